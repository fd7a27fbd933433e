"""Every applicable (model, format) pair converts, runs on host-cpu in its real runtime and
stays within 1e-4 of the original (fp32); unsupported pairs give an error naming what works."""

import numpy as np
import pytest
import torch

import edgepress
from edgepress.conversion import conversion_matrix
from edgepress.errors import BadInputError
from edgepress.targets.base import RunSettings
from tests.models import EncoderBlock, MobileCnn, Mlp, keras_cnn, seeded

SETTINGS = RunSettings(threads=1, warmup=1, min_iters=3, min_seconds=0.0, timeout_s=300)
TORCH_MODELS = {
    "mlp": (Mlp, (1, 20)),
    "cnn": (MobileCnn, (1, 3, 16, 16)),
    "transformer": (EncoderBlock, (1, 8, 32)),
}
TORCH_FORMATS = ["onnx", "tflite", "executorch", "ptl"]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("matrix")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TORCH_MODELS))
def test_torch_model_goes_to_every_format(name, out_dir):
    cls, shape = TORCH_MODELS[name]
    model = edgepress.from_torch(seeded(cls()), torch.randn(*shape), name=name)
    arts = edgepress.convert(model, TORCH_FORMATS, out_dir=out_dir, isolate=False)
    data = np.random.default_rng(0).standard_normal((4, *shape[1:])).astype(np.float32)
    results = edgepress.bench(arts, reference=model, data=data, settings=SETTINGS)
    for art, result in zip(arts, results):
        assert result.error is None, (art.format, result.error)
        assert result.drift.max_abs < 1e-4, (art.format, result.drift.max_abs)
        assert art.report.get("ops"), art.format


@pytest.mark.slow
@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
def test_keras_model_goes_to_onnx_and_tflite(flavor, out_dir):
    model = edgepress.from_keras(keras_cnn(flavor), name=f"cnn_{flavor}")
    assert model.input_spec.layout == "NHWC" and model.report["keras_flavor"] == flavor
    arts = edgepress.convert(model, "all", out_dir=out_dir / flavor)
    assert sorted(a.format.value for a in arts) == ["onnx", "tflite"]
    data = np.random.default_rng(0).standard_normal((4, 16, 16, 3)).astype(np.float32)
    for result in edgepress.bench(arts, reference=model, data=data, settings=SETTINGS):
        assert result.error is None and result.drift.max_abs < 1e-4, result.error


@pytest.mark.slow
def test_keras_file_round_trip_and_safe_mode(tmp_path):
    import keras

    path = tmp_path / "cnn.keras"
    keras_cnn("keras3").save(path)
    art = edgepress.load(path)
    assert art.report["keras_flavor"] == "keras3" and art.input_spec.shapes[0] == ("batch", 16, 16, 3)
    lam = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(edgepress.EdgepressError, match="holds Lambda layers whose Python code would run on load"):
        edgepress.load(tmp_path / "lambda.keras")


def test_tf_keras_h5_with_lambda_is_refused(tmp_path):
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Lambda(lambda x: x * 2)])
    model.save(tmp_path / "lambda.h5")
    with pytest.raises(edgepress.EdgepressError, match="Lambda layers whose code would run on load"):
        edgepress.load(tmp_path / "lambda.h5")


@pytest.mark.parametrize("target", ["executorch", "ptl", "pt2"])
def test_keras_to_pytorch_formats_names_what_works(target, tmp_path):
    model = edgepress.from_keras(keras_cnn("keras3"))
    with pytest.raises(BadInputError, match="convert a Keras model to TFLite or ONNX instead"):
        edgepress.convert(model, [target], out_dir=tmp_path)


def test_readme_matrix_matches_the_registry():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    published = readme.split("<!-- matrix:start -->\n")[1].split("\n<!-- matrix:end -->")[0]
    assert published == conversion_matrix()


def test_nhwc_tflite_gets_transposed_inputs(tmp_path):
    from edgepress.passes import apply, create

    model = edgepress.from_torch(seeded(MobileCnn()), torch.randn(1, 3, 16, 16), name="cnn")
    art = apply(create("convert.tflite", {"layout": "nhwc"}), model, tmp_path)
    assert art.input_spec.layout == "NHWC" and art.input_spec.shapes[0] == (1, 16, 16, 3)
    data = np.random.default_rng(1).standard_normal((3, 3, 16, 16)).astype(np.float32)
    (result,) = edgepress.bench(art, reference=model, data=data, settings=SETTINGS)
    assert result.input_transform == "inputs transposed NCHW -> NHWC for this artifact"
    assert result.drift.max_abs < 1e-4
