import zipfile

import pytest
import torch

import edgepress
from edgepress.artifact import Format
from edgepress.errors import BadInputError, ModelLoadError
from edgepress.intake.torch import from_factory
from edgepress.layouts import guess_layout
from tests.models import residual_net


def test_from_torch_records_signature_and_layout(torch_model):
    spec = torch_model.input_spec
    assert spec.names == ("x",) and spec.shapes == (("batch", 3, 16, 16),) and spec.layout == "NCHW"
    assert torch_model.format is Format.TORCH and torch_model.path is None
    assert len(torch_model.sha256) == 64


def test_from_torch_hash_follows_the_weights():
    x = torch.randn(1, 3, 16, 16)
    a = edgepress.from_torch(residual_net(0), x)
    b = edgepress.from_torch(residual_net(0), x)
    c = edgepress.from_torch(residual_net(1), x)
    assert a.sha256 == b.sha256 != c.sha256


def test_from_torch_rejects_non_modules():
    with pytest.raises(BadInputError, match="expects a torch.nn.Module"):
        edgepress.from_torch(lambda x: x, torch.randn(1))


def test_load_pt2_reads_the_signature(pt2_path):
    art = edgepress.load(pt2_path)
    assert art.format is Format.TORCH_EXPORT and art.input_spec.shapes == (("batch", 3, 16, 16),)


def test_load_onnx_reads_the_signature(onnx_artifact):
    art = edgepress.load(onnx_artifact.path)
    assert art.input_spec.tensors[0].shape[1:] == (3, 16, 16) and art.sha256 == onnx_artifact.sha256


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        edgepress.load(tmp_path / "nope.onnx")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\0")
    with pytest.raises(ModelLoadError, match="unknown model suffix '.bin'"):
        edgepress.load(path)


@pytest.mark.parametrize("suffix", [".onnx", ".pt2", ".tflite", ".pte", ".ptl", ".pt"])
def test_content_that_contradicts_the_suffix(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_text("this is plain text, not a model")
    with pytest.raises(ModelLoadError, match="is not|damaged"):
        edgepress.load(path)


def test_truncated_onnx(tmp_path, onnx_artifact):
    path = tmp_path / "cut.onnx"
    path.write_bytes(onnx_artifact.path.read_bytes()[: onnx_artifact.size_bytes // 2])
    with pytest.raises(ModelLoadError, match="damaged or invalid ONNX"):
        edgepress.load(path)


def test_truncated_pt2(tmp_path, pt2_path):
    path = tmp_path / "cut.pt2"
    data = pt2_path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        edgepress.load(path)


def test_pt2_zip_without_a_program(tmp_path):
    path = tmp_path / "other.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ModelLoadError, match="damaged or incompatible .pt2"):
        edgepress.load(path)


def test_torchscript_needs_an_input_shape(tmp_path):
    path = tmp_path / "ts.pt"
    torch.jit.save(torch.jit.trace(residual_net(), torch.randn(1, 3, 16, 16)), str(path))
    with pytest.raises(ModelLoadError, match="--input-shape"):
        edgepress.load(path)
    art = edgepress.load(path, input_shape=(1, 3, 16, 16))
    assert art.format is Format.TORCHSCRIPT and art.input_spec.shapes == (("batch", 3, 16, 16),)


def test_a_state_dict_is_not_torchscript(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(residual_net().state_dict(), path)
    with pytest.raises(ModelLoadError, match="--factory and --weights"):
        edgepress.load(path, input_shape=(1, 3, 16, 16))


def test_factory_loads_weights_safely(tmp_path):
    weights = tmp_path / "w.pt"
    net = residual_net(3)
    torch.save(net.state_dict(), weights)
    art = from_factory("tests.models:make_residual_net", weights, (1, 3, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(art.model.module(x), net(x))


def test_factory_refuses_pickled_objects(tmp_path):
    weights = tmp_path / "w.pt"
    torch.save({"state_dict": residual_net().state_dict(), "extra": object()}, weights)
    with pytest.raises(ModelLoadError, match="weights_only=True"):
        from_factory("tests.models:make_residual_net", weights, (1, 3, 16, 16))


def test_factory_name_errors():
    with pytest.raises(BadInputError, match="package.module:function"):
        from_factory("tests.models", None, (1, 3, 16, 16))
    with pytest.raises(BadInputError, match="cannot use factory"):
        from_factory("tests.models:nothing_here", None, (1, 3, 16, 16))


def test_factory_failures_are_bad_input(tmp_path):
    with pytest.raises(BadInputError, match=r"the factory 'os:system' raised TypeError: system\(\) missing"):
        from_factory("os:system", None, (1, 4))
    with pytest.raises(BadInputError, match="'os:sep': it is a str, not a function"):
        from_factory("os:sep", None, (1, 4))
    with pytest.raises(BadInputError, match="returned a str; it must return a torch.nn.Module"):
        from_factory("os:getcwd", None, (1, 4))
    weights = tmp_path / "w.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), weights)
    with pytest.raises(BadInputError, match="do not fit the model 'tests.models:make_residual_net' builds"):
        from_factory("tests.models:make_residual_net", weights, (1, 3, 16, 16))


def test_guess_layout():
    assert guess_layout((1, 3, 224, 224), prefer="NHWC") == "NCHW"
    assert guess_layout((1, 224, 224, 3), prefer="NCHW") == "NHWC"
    assert guess_layout((1, 16, 8, 8), prefer="NCHW") == "NCHW"
    assert guess_layout((1, 10), prefer="NCHW") is None


def test_names_of_the_former_intake_module_still_resolve_with_a_warning():
    import edgepress.intake
    from edgepress.intake.files import load

    with pytest.warns(DeprecationWarning, match="moved to edgepress.intake.files.load"):
        assert edgepress.intake.load is load
    with pytest.raises(AttributeError):
        edgepress.intake.no_such_name
