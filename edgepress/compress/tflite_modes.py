"""The TFLite converter's quantization modes, set from a Keras handle's recorded recipe.

- ``int8_static``: full integer, activation ranges from a representative dataset (the
  stored calibration samples); float32 model inputs and outputs are kept.
- ``int8_dynamic``: dynamic range (int8 weights, float activations quantized at run time).
- ``fp16``: float16 weights.
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
    converter.representative_dataset = lambda: _samples(recipe["calibration_file"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not recipe.get("per_channel", True):
        converter._experimental_disable_per_channel = True  # the converter's only switch for per-tensor weights
    return {"quantizer": "TFLiteConverter full integer (representative dataset)"}


def _samples(path: str) -> Iterator[list[Any]]:
    from edgepress.compress.calibration import load, samples

    for batch in samples(load(path)):
        yield list(batch)
