import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import edgepress
from edgepress.converters import onnx as onnx_converter
from edgepress.passes import apply, create
from tests.models import residual_net


def test_pt2_to_onnx_matches_torch(pt2_path, tmp_path):
    """BatchNorm + residual + GELU + global pooling, via .pt2, stays within 1e-4."""
    art = edgepress.convert(edgepress.load(pt2_path), ["onnx"], out_dir=tmp_path)[0]
    onnx.checker.check_model(str(art.path))
    x = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
    got = ort.InferenceSession(str(art.path)).run(None, {"x": x})[0]
    want = residual_net()(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - want).max() < 1e-4
    assert art.input_spec.tensors[0].shape == ("batch", 3, 16, 16)
    assert set(art.report["ops"]) >= {"Conv", "Add"}


def test_static_batch_option(torch_model, tmp_path):
    art = apply(create("convert.onnx", {"dynamic_batch": False}), torch_model, tmp_path)
    assert art.input_spec.tensors[0].shape == (1, 3, 16, 16)


def test_opset_is_applied(torch_model, tmp_path):
    art = apply(create("convert.onnx", {"opset": 20}), torch_model, tmp_path)
    opsets = {o.domain: o.version for o in onnx.load(str(art.path)).opset_import}
    assert opsets[""] == 20


def test_an_opset_the_exporter_cannot_make_is_an_error_not_a_silent_18(torch_model, tmp_path):
    with pytest.raises(edgepress.EdgepressError, match="could not produce opset 17.*made opset 18"):
        apply(create("convert.onnx", {"opset": 17}), torch_model, tmp_path)
    assert not list(tmp_path.glob("*.onnx")), "nothing may be left behind"


def test_large_models_keep_weights_in_a_side_file(torch_model, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_converter, "EXTERNAL_DATA_THRESHOLD", 0)
    art = edgepress.convert(torch_model, ["onnx"], out_dir=tmp_path, isolate=False)[0]
    side = tmp_path / "resnet_tiny.onnx.data"
    assert art.side_files == (side,) and side.stat().st_size > 0
    assert art.size_bytes == art.path.stat().st_size + side.stat().st_size
    reloaded = edgepress.load(art.path)
    assert reloaded.side_files == (side,) and reloaded.sha256 == art.sha256


def test_onnx_from_onnx_is_refused(onnx_artifact, tmp_path):
    with pytest.raises(edgepress.EdgepressError, match="cannot convert a onnx model to onnx"):
        edgepress.convert(onnx_artifact, ["onnx"], out_dir=tmp_path)
