import numpy as np
import pytest
import torch

import edgepress
from edgepress.artifact import Format
from edgepress.errors import BadInputError
from edgepress.targets.host_cpu import HostCpu
from tests.models import residual_net


def test_ptl_runs_in_the_lite_interpreter_and_is_flagged_deprecated(pt2_path, tmp_path):
    (art,) = edgepress.convert(edgepress.load(pt2_path), ["ptl"], out_dir=tmp_path)
    assert art.path.suffix == ".ptl" and "deprecated_format" in art.report["flags"]
    assert "ExecuTorch" in art.report["deprecated"] and art.report["ops"]["aten::_convolution"] == 2
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    got = HostCpu().load(art)([x])[0]
    want = residual_net()(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - want).max() < 1e-4


def test_ptl_result_carries_the_flag(torch_model, tmp_path, fast):
    (art,) = edgepress.convert(torch_model, ["ptl"], out_dir=tmp_path)
    (r,) = edgepress.bench(art, reference=torch_model, settings=fast)
    assert r.ok and "deprecated_format" in r.flags and r.drift.max_abs < 1e-4


# A TorchScript .pt as users make one: a traced module saved with torch.jit.save.
@pytest.fixture(scope="module")
def script_pt(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "t.pt"
    torch.manual_seed(0)
    torch.jit.trace(torch.nn.Linear(8, 4), torch.randn(1, 8)).save(str(path))
    return path


def _rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)


def test_torchscript_goes_to_onnx_and_ptl_and_matches_the_pt(script_pt, tmp_path, fast):
    model = edgepress.load(script_pt, input_shape=(1, 8))
    onnx_art, ptl_art = edgepress.convert(model, ["onnx", "ptl"], out_dir=tmp_path, isolate=False)
    assert onnx_art.path.name == "t.onnx" and "TorchScript exporter" in onnx_art.report["converter"]
    assert onnx_art.input_spec.shapes == (("batch", 8),) and onnx_art.report["ops"] == {"Gemm": 1}
    assert ptl_art.path.name == "t.ptl" and "deprecated_format" in ptl_art.report["flags"]
    results = edgepress.bench([onnx_art, ptl_art], reference=edgepress.load(script_pt, input_shape=(1, 8)), data=_rows(8, 1), settings=fast)
    for result in results:
        assert result.error is None, result.error
        assert result.drift.samples == 8 and result.drift.max_abs < 1e-5, result.drift


@pytest.mark.parametrize("fmt", ["tflite", "executorch", "pt2"])
def test_torchscript_to_torch_export_formats_says_why_and_what_to_do(script_pt, fmt, tmp_path):
    model = edgepress.load(script_pt, input_shape=(1, 8))
    with pytest.raises(BadInputError, match="torch.export cannot take a TorchScript module; export the original nn.Module"):
        edgepress.convert(model, [fmt], out_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_torchscript_quantizes_through_its_onnx_export(script_pt, tmp_path, fast):
    model = edgepress.load(script_pt, input_shape=(1, 8))
    q = edgepress.quantize(model, "int8", calibration=_rows(16, 2), out_dir=tmp_path)
    assert q.format is Format.ONNX and q.path == tmp_path / "t_int8.onnx"
    assert q.report["quantization"]["quantized_weight_fraction"] == 1.0  # the Gemm's weight is int8
    (result,) = edgepress.bench(q, reference=model, data=_rows(8, 3), settings=fast)
    # 8-bit activations and (7-bit, input layer) weights on a 4-output layer: close, not exact
    assert result.error is None and result.drift.cosine > 0.98 and result.drift.top1_agreement == 1.0, result.error
    with pytest.raises(BadInputError, match="quantization-aware training needs the nn.Module"):
        edgepress.quantize(model, "qat", calibration=(_rows(16, 2), np.zeros(16, np.int64)), out_dir=tmp_path / "qat")


def test_quantize_cli_refuses_torchscript_to_tflite(script_pt, tmp_path):
    import subprocess
    import sys

    from tests.cli.test_cli import _one_error_line

    proc = subprocess.run([sys.executable, "-m", "edgepress", "quantize", str(script_pt), "--input-shape", "1x8", "--to", "tflite", "--out", "out"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert "a TorchScript model quantizes to ONNX only" in _one_error_line(proc) and not (tmp_path / "out").exists()
