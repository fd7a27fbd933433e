"""A converter's artifact takes the source model's inputs, or the conversion is an error
(``converters.input_check``, called by ``convert_with`` for every converter)."""

from pathlib import Path

import numpy as np
import pytest

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.converters.input_check import input_differences
from edgepress.errors import ConversionError


def _spec(*tensors: tuple, layout: str | None = None) -> InputSpec:
    return InputSpec(tuple(TensorSpec(*t) for t in tensors), layout)


IMAGE = _spec(("image", ("batch", 3, 32, 32), "float32"), layout="NCHW")
TOKENS = _spec(("tokens", ("batch", "T"), "int64"))


@pytest.mark.parametrize(
    ("source", "made"),
    [
        (IMAGE, _spec(("image", (1, 3, 32, 32), "float32"), layout="NCHW")),  # edge formats fix the batch
        (IMAGE, _spec(("image", (1, 32, 32, 3), "float32"), layout="NHWC")),  # a channels-last TFLite
        (IMAGE, _spec(("image", (1, 3, 32, 32), "float16"), layout="NCHW")),  # float width
        (IMAGE, _spec(("image", (1, 32, 32, 3), "quantized:int8"), layout="NHWC")),  # int8 input with a scale
        (TOKENS, _spec(("tokens", (1, 1), "int32"))),  # int64 ids as int32, a dynamic length fixed
    ],
)
def test_what_edge_formats_legitimately_change_passes(source, made):
    assert input_differences(source, made) == []


@pytest.mark.parametrize(
    ("made", "names", "problem"),
    [
        (_spec(("image", ("batch", 3, 32, 32), "float32"), ("mean", (1, 3, 1, 1), "float32"), layout="NCHW"), False, "2 input(s) instead of 1"),
        (_spec(("x", ("batch", 3, 32, 32), "float32"), layout="NCHW"), True, "inputs named ['x'] instead of ['image']"),
        (_spec(("image", ("batch", 3072), "float32")), False, "input 0 (image): rank 2 instead of 4"),
        (_spec(("image", (1, 3, 32, 32), "int32"), layout="NCHW"), False, "input 0 (image): dtype int32 instead of float32"),
        (_spec(("image", (1, 3, 16, 16), "float32"), layout="NCHW"), False, "shape 1x3x16x16 instead of batchx3x32x32"),
        (_spec(("image", (1, 3, 32, 32), "float32"), layout="NHWC"), False, "shape 1x3x32x32 instead of batchx32x32x3"),
    ],
)
def test_a_changed_input_is_named(made, names, problem):
    problems = input_differences(IMAGE, made, names=names)
    assert len(problems) == 1 and problem in problems[0], problems


def test_quantized_input_for_integer_ids_is_a_difference():
    (problem,) = input_differences(TOKENS, _spec(("tokens", (1, 16), "quantized:int8")), names=False)
    assert "a quantized int8 input for a int64 one" in problem


def _onnx_with_extra_input(path: Path) -> tuple[tuple[Path, ...], dict]:
    """An ONNX file whose layer constant became a graph input, as tf2onnx once made from Keras."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in (("image", ["batch", 4]), ("mean", [4]))]
    output = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Sub", ["image", "mean"], ["out"])], "g", inputs, [output])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return (), {}


def test_convert_with_refuses_an_artifact_with_other_inputs_and_keeps_nothing(tmp_path):
    from edgepress.converters.common import convert_with
    from edgepress.converters.onnx import ConvertOnnx
    from edgepress.targets.signature import onnx_input_spec

    def spec_of(path: Path) -> InputSpec:
        import onnx

        return onnx_input_spec(onnx.load(str(path)))

    source = Artifact(Format.KERAS, None, "0" * 64, 0, _spec(("image", ("batch", 4), "float32")), report={"name": "m"})
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match=r"inputs differ from the source model's: 2 input\(s\) instead of 1 .*mean float32 4"):
        convert_with(ConvertOnnx(), source, out, Format.ONNX, lambda _, path: _onnx_with_extra_input(path), spec_of)
    assert not out.exists()  # nothing published, no staging folder, no empty --out


@pytest.mark.slow
def test_keras3_normalization_layer_stays_a_constant_in_onnx(tmp_path):
    # EfficientNet's first layer: a Normalization layer's mean and variance used to become
    # ONNX graph inputs (tf2onnx from_function lists captured tensors as inputs).
    import keras
    import onnxruntime as ort

    import edgepress

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype(np.float32)
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(x)
    inputs = keras.Input((8, 8, 3), name="image")
    y = keras.layers.Conv2D(4, 3, activation="relu")(norm(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(y)))
    (art,) = edgepress.convert(edgepress.from_keras(model, name="norm"), ["onnx"], out_dir=tmp_path, isolate=False)
    session = ort.InferenceSession(str(art.path))
    assert [i.name for i in session.get_inputs()] == ["image"] and art.input_spec.names == ("image",)
    got = session.run(None, {"image": x})[0]
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), atol=1e-4)
