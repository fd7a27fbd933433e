"""The TFLite converter's quantization modes, set from a Keras handle's recorded recipe.

- ``int8_static``: full integer, activation ranges from a representative dataset (the
  stored calibration samples); float32 model inputs and outputs are kept.
- ``int8_dynamic``: dynamic range (int8 weights, float activations quantized at run time).
- ``fp16``: float16 weights.
- ``int8_static`` with int16 activations: the converter's int16x8 mode (16-bit
  activations, int8 weights) for models int8 activations hurt; builtin ops only.
- ``qat``: a TF-MOT quantization-aware model; ``Optimize.DEFAULT`` turns its learned
  ranges into int8 kernels (float32 inputs and outputs are kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def configure(converter: Any, recipe: dict[str, Any]) -> dict[str, Any]:
    """Set ``converter``'s optimisation options for ``recipe``; returns what was chosen."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if recipe["mode"] == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        return {"quantizer": "TFLiteConverter float16"}
    if recipe["mode"] == "int8_dynamic":
        return {"quantizer": "TFLiteConverter dynamic range"}
    if recipe["mode"] == "qat":  # TF-MOT's fake quantizers hold the learned ranges: no representative data
        return {"quantizer": "TFLiteConverter int8 from TF-MOT quantization-aware training"}
    converter.representative_dataset = lambda: _samples(recipe["calibration_file"])
    if recipe.get("activations") == "int16":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        chosen = "TFLiteConverter int16x8 (int16 activations, int8 weights; representative dataset)"
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        chosen = "TFLiteConverter full integer (representative dataset)"
    if not recipe.get("per_channel", True):
        converter._experimental_disable_per_channel = True  # the converter's only switch for per-tensor weights
    return {"quantizer": chosen}


def _samples(path: str) -> Iterator[list[Any]]:
    from edgepress.compress.calibration import load, samples

    for batch in samples(load(path)):
        yield list(batch)
