"""Keras -> ONNX: both Keras flavours through tf2onnx (Keras 3 as its frozen inference function)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format
from edgepress.converters.common import quiet_exporter
from edgepress.errors import BadInputError


def export_keras(source: Artifact, path: Path, opset: int, dynamic_batch: bool) -> str:
    """Both Keras flavours through tf2onnx: Keras 3 as its frozen inference function, tf-keras with from_keras."""
    import tf2onnx

    from edgepress.intake.keras import KERAS3, keras_model

    held = keras_model(source)
    signature = _keras_signature(held.model, dynamic_batch)
    with quiet_exporter():
        if held.flavor == KERAS3:
            _export_keras3(held.model, signature, path, opset)
            return f"tf2onnx {tf2onnx.__version__} (Keras 3 inference function, frozen)"
        tf2onnx.convert.from_keras(held.model, input_signature=signature, opset=opset, output_path=str(path))
    return f"tf2onnx {tf2onnx.__version__}"


def refuse_keras_qat(source: Artifact) -> None:
    """tf2onnx folds TF-MOT's weight fake-quantization into float32 weights: no int8 model comes out."""
    from edgepress.quantization import Mode

    if source.format is Format.KERAS and source.quant is not None and source.quant.mode is Mode.QAT:
        raise BadInputError(
            "a tf-keras model from quantization-aware training does not convert to an INT8 ONNX model: tf2onnx folds "
            "TF-MOT's weight fake-quantization into float32 weights, so ONNX Runtime would run float kernels (no smaller, "
            "no faster); convert it to TFLite (int8 kernels), or for ONNX quantize the float model with "
            "edgepress.quantize(model, \"int8\", calibration=x) (quantize.int8_static, ONNX Runtime QDQ)"
        )


def _export_keras3(model: Any, signature: tuple[Any, ...], path: Path, opset: int) -> None:
    """Keras 3 -> ONNX with every captured tensor frozen into the graph.

    ``model.export(format="onnx")`` hands tf2onnx's ``from_function`` a function whose
    captured tensors tf2onnx lists as graph inputs (unlike its ``from_keras``): the mean and
    variance of a Normalization layer (EfficientNet's first layer) are such captures,
    constants rather than variables, so they became inputs that callers had to feed.
    Freezing first turns every capture into a constant; the inputs are the model's own.
    """
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    call = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    frozen = convert_variables_to_constants_v2(call.get_concrete_function(*signature))
    tf2onnx.convert.from_function(tf.function(frozen), input_signature=signature, opset=opset, output_path=str(path))


def _keras_signature(model: Any, dynamic_batch: bool) -> tuple[Any, ...]:
    import tensorflow as tf

    return tuple(
        tf.TensorSpec((None if dynamic_batch else 1, *t.shape[1:]), t.dtype, name=t.name.split(":")[0]) for t in model.inputs
    )
