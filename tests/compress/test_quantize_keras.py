"""Keras quantization: the TFLite converter's modes and ONNX Runtime on the Keras model's ONNX form."""

import numpy as np
import pytest

import edgepress
from edgepress.artifact import Format
from tests.compress.test_keras import digits_keras

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keras_digits(digits):
    x, y = digits.x_train.transpose(0, 2, 3, 1), digits.y_train
    untrained = edgepress.from_keras(digits_keras("keras3"), name="digits_keras")
    return edgepress.distill(teacher=None, student=untrained, data=(x, y), epochs=8, patience=8, progress=False)


def _tflite_accuracy(path, x, y):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    hits = 0
    for sample, label in zip(x, y):
        interp.set_tensor(inp["index"], sample[None].astype(inp["dtype"]))
        interp.invoke()
        hits += int(interp.get_tensor(out["index"]).argmax() == label)
    return hits / len(y)


@pytest.mark.parametrize("mode", ["int8", "int8_dynamic", "fp16"])
def test_keras_tflite_modes_shrink_and_keep_accuracy(keras_digits, digits, tmp_path, mode):
    x_test, y_test = digits.x_test.transpose(0, 2, 3, 1), digits.y_test
    calib = (digits.x_train.transpose(0, 2, 3, 1), digits.y_train)
    q = edgepress.quantize(keras_digits, mode, calibration=calib if mode == "int8" else None, samples=64)
    assert q.format is Format.KERAS and q.quant.mode.value in ("int8_static", "int8_dynamic", "fp16")
    (fp32,) = edgepress.convert(keras_digits, ["tflite"], out_dir=tmp_path)
    (made,) = edgepress.convert(q, ["tflite"], out_dir=tmp_path)
    assert made.path != fp32.path and made.report["quantization"]["quantizer"].startswith("TFLiteConverter")
    assert made.size_bytes < (0.35 if mode != "fp16" else 0.6) * fp32.size_bytes  # 13k parameters: flatbuffer overhead counts
    drop = _tflite_accuracy(fp32.path, x_test, y_test) - _tflite_accuracy(made.path, x_test, y_test)
    assert drop <= 0.01


def test_keras_int8_onnx(keras_digits, digits, tmp_path):
    q = edgepress.quantize(keras_digits, "int8", calibration=digits.x_train.transpose(0, 2, 3, 1), samples=64)
    (fp32,) = edgepress.convert(keras_digits, ["onnx"], out_dir=tmp_path)
    (made,) = edgepress.convert(q, ["onnx"], out_dir=tmp_path)
    assert made.report["quantization"]["quantizer"].startswith("onnxruntime")
    assert made.size_bytes < 0.35 * fp32.size_bytes
    x = digits.x_test.transpose(0, 2, 3, 1)
    assert (_onnx_top1(fp32.path, x) == _onnx_top1(made.path, x)).mean() >= 0.98


def _onnx_top1(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))]).argmax(1)


def test_keras_int16x8_tflite_has_16_bit_activations(keras_digits, digits, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    x_test, y_test = digits.x_test.transpose(0, 2, 3, 1), digits.y_test
    q = edgepress.quantize(keras_digits, "int16x8", calibration=digits.x_train.transpose(0, 2, 3, 1), samples=64)
    (fp32,) = edgepress.convert(keras_digits, ["tflite"], out_dir=tmp_path)
    (made,) = edgepress.convert(q, ["tflite"], out_dir=tmp_path)
    assert made.report["quantization"]["quantizer"].startswith("TFLiteConverter int16x8")
    interp = Interpreter(model_path=str(made.path))
    dtypes = {d["dtype"].__name__ for d in interp.get_tensor_details()}
    assert {"int16", "int8"} <= dtypes  # int16 activations, int8 weights
    assert _tflite_accuracy(fp32.path, x_test, y_test) - _tflite_accuracy(made.path, x_test, y_test) <= 0.01
