"""Quantization-aware training: PT2E QAT on PyTorch, TF-MOT on tf-keras, and what is refused."""

import numpy as np
import pytest

import edgepress
from edgepress.artifact import Format
from edgepress.errors import BadInputError, DataError
from edgepress.passes import Recipe, create
from edgepress.targets.base import RunSettings
from tests.compress.test_keras import digits_keras
from tests.compress.test_quantize_keras import _tflite_accuracy

SETTINGS = RunSettings(threads=1, warmup=1, min_iters=3, min_seconds=0.0, timeout_s=300)
TRAIN = 600  # a slice of the digits training split: QAT fine-tunes, it does not train from scratch


@pytest.fixture(scope="module")
def torch_qat(digits, digits_model):
    before = {k: v.clone() for k, v in digits_model.model.module.state_dict().items()}
    q = edgepress.quantize(digits_model, "qat", calibration=(digits.x_train[:TRAIN], digits.y_train[:TRAIN]), epochs=2, progress=False)
    unchanged = all((v == before[k]).all() for k, v in digits_model.model.module.state_dict().items())
    return q, unchanged


def test_torch_qat_returns_a_trained_handle_and_leaves_the_input_alone(torch_qat, digits_model):
    q, unchanged = torch_qat
    assert unchanged and q.format is Format.TORCH and q.model is not digits_model.model
    assert q.quant.mode.value == "qat" and q.quant.training.epochs == 2 and q.report["training"]["epochs_run"] == 2
    assert q.lineage[-1].startswith("quantize.qat(") and q.report["name"] == "digits_cnn_qat"
    assert q.sha256 != digits_model.sha256


@pytest.mark.slow
def test_torch_qat_lowers_to_int8_in_every_format_and_keeps_accuracy(torch_qat, digits, digits_model, tmp_path):
    import onnx

    q, _ = torch_qat
    pte, onnx_art, tfl, pt2 = edgepress.convert(q, ["executorch", "onnx", "tflite", "pt2"], out_dir=tmp_path)
    # ExecuTorch: quantize/dequantize and the int8 convolutions all inside the XNNPACK delegate.
    delegated, portable = pte.report["delegated_ops"], pte.report["portable_ops"]
    assert delegated["quantized_decomposed_quantize_per_tensor_default"] > 0 and delegated["aten_convolution_default"] == 3
    assert not any(op.startswith("quantized_decomposed") for op in portable), portable
    assert pte.size_bytes < 0.4 * digits_model.size_bytes  # float32 weights alone are ~115 KB
    # ONNX: QDQ with int8 weight initializers; TFLite: int8 kernels with int8 input and output.
    graph = onnx.load(str(onnx_art.path)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= set(onnx_art.report["ops"])
    assert sum(i.data_type == onnx.TensorProto.INT8 for i in graph.initializer) >= 4  # 3 convs + the classifier
    assert onnx_art.size_bytes < 0.4 * digits_model.size_bytes  # names compacted: the int8 weights dominate
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tfl.path))
    assert interp.get_input_details()[0]["dtype"] == np.int8 and tfl.size_bytes < 0.4 * digits_model.size_bytes
    assert edgepress.load(pt2.path).quant == q.quant  # the recipe travels with the .pt2
    results = edgepress.bench([pte, onnx_art, tfl], target="host-cpu", reference=digits_model, data=(digits.x_test, digits.y_test), settings=SETTINGS)
    for art, result in zip([pte, onnx_art, tfl], results):
        assert result.error is None, (art.format, result.error)
        assert result.reference_accuracy - result.accuracy <= 0.02, (art.format, result.accuracy, result.reference_accuracy)


def test_recipe_form_trains_from_a_file(digits, digits_model, tmp_path):
    data = tmp_path / "train.npz"
    np.savez(data, x=digits.x_train[:128], y=digits.y_train[:128])
    recipe = Recipe.from_dict({"pass": [{"name": "quantize.qat", "data": str(data), "epochs": 1, "lr": 1e-4, "per_channel": False}]})
    (q,) = recipe.run(digits_model, tmp_path / "out")
    assert q.quant.per_channel is False and q.report["training"]["epochs_run"] == 1
    assert not (tmp_path / "out").exists()  # a handle: files are written by convert


def test_bad_input_is_refused_and_nothing_written(digits, digits_model, tmp_path):
    out = tmp_path / "out"
    x, y = digits.x_train[:32], digits.y_train[:32]
    with pytest.raises(DataError, match="needs labelled data"):
        edgepress.quantize(digits_model, "qat", out_dir=out)
    with pytest.raises(DataError, match="needs training data"):
        Recipe.from_dict({"pass": [{"name": "quantize.qat"}]}).run(digits_model, out)
    with pytest.raises(DataError, match="labels must be one integer per sample"):
        edgepress.quantize(digits_model, "qat", calibration=(x, y[:31]), out_dir=out)
    with pytest.raises(DataError, match="class indices in \\[0, 10\\)"):
        edgepress.quantize(digits_model, "qat", calibration=(x, y + 10), out_dir=out)
    with pytest.raises(DataError, match="training inputs are shaped"):
        edgepress.quantize(digits_model, "qat", calibration=(np.zeros((4, 3, 8, 8), np.float32), y[:4]), out_dir=out)
    with pytest.raises(BadInputError, match="epochs >= 1"):
        edgepress.quantize(digits_model, "qat", calibration=(x, y), epochs=0, out_dir=out)
    with pytest.raises(BadInputError, match="lr must be > 0"):
        create("quantize.qat", {"data": "digits", "lr": 0})
    with pytest.raises(BadInputError, match="accuracy guard"):
        edgepress.quantize(digits_model, "qat", calibration=(x, y), max_drop=0.01, out_dir=out)
    assert not out.exists()


def test_keras_cases_tf_mot_cannot_train_are_refused_with_what_to_do(digits, tmp_path):
    model = edgepress.from_keras(digits_keras("keras3"), name="digits_keras3")
    x, y = digits.x_train[:32].transpose(0, 2, 3, 1), digits.y_train[:32]
    with pytest.raises(BadInputError, match="tf-keras.*quantize.int8_static"):
        edgepress.quantize(model, "qat", calibration=(x, y), out_dir=tmp_path / "out")
    with pytest.raises(BadInputError, match="TF-MOT"):
        Recipe.from_dict({"pass": [{"name": "quantize.qat", "data": "digits"}]}).run(model, tmp_path / "out")
    tf_keras_model = edgepress.from_keras(digits_keras("tf_keras"), name="digits_tf_keras")
    with pytest.raises(BadInputError, match="no per-tensor switch"):
        edgepress.quantize(tf_keras_model, "qat", calibration=(x, y), per_channel=False, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def tf_keras_digits(digits):
    x, y = digits.x_train.transpose(0, 2, 3, 1), digits.y_train
    untrained = edgepress.from_keras(digits_keras("tf_keras"), name="digits_tf_keras")
    trained = edgepress.distill(teacher=None, student=untrained, data=(x, y), epochs=8, patience=8, progress=False)
    return trained, edgepress.quantize(trained, "qat", calibration=(x, y), epochs=2, progress=False)


@pytest.mark.slow
def test_tf_keras_qat_converts_to_an_int8_tflite_and_keeps_accuracy(tf_keras_digits, digits, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    trained, q = tf_keras_digits
    assert q.quant.mode.value == "qat" and q.model.flavor == "tf_keras"
    (fp32,) = edgepress.convert(trained, ["tflite"], out_dir=tmp_path, isolate=False)
    (made,) = edgepress.convert(q, ["tflite"], out_dir=tmp_path)  # isolated: the QAT model travels as .h5
    assert made.report["quantization"]["quantizer"].startswith("TFLiteConverter int8")
    assert made.size_bytes < 0.4 * fp32.size_bytes
    interp = Interpreter(model_path=str(made.path))
    kernels = [t for t in interp.get_tensor_details() if len(t["shape"]) >= 2 and t["dtype"] == np.int8]
    assert len(kernels) >= 3  # two conv kernels and the dense kernel stored as int8
    x_test, y_test = digits.x_test.transpose(0, 2, 3, 1), digits.y_test
    assert _tflite_accuracy(fp32.path, x_test, y_test) - _tflite_accuracy(made.path, x_test, y_test) <= 0.02


def test_tf_keras_qat_to_onnx_says_why_not_and_what_to_do(tf_keras_digits, tmp_path):
    _, q = tf_keras_digits
    with pytest.raises(BadInputError, match="tf2onnx folds.*convert it to TFLite"):
        edgepress.convert(q, ["onnx"], out_dir=tmp_path, isolate=False)
