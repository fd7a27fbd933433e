"""``--to`` values that would make nothing, and a quantize mode a requested format cannot hold, are refused before any work."""

import numpy as np
import pytest

from tests.cli.test_cli import _one_error_line


@pytest.fixture
def linear_pt2(tmp_path):
    import torch

    torch.export.save(torch.export.export(torch.nn.Linear(4, 2).eval(), (torch.randn(1, 4),)), str(tmp_path / "m.pt2"))
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((8, 4), dtype=np.float32))
    return tmp_path / "m.pt2"


@pytest.mark.parametrize("to", ["", " , "])
def test_convert_to_nothing_is_bad_input(cli, linear_pt2, tmp_path, to):
    proc = cli("convert", linear_pt2, "--to", to, "--out", "out")
    assert proc.returncode == 2
    assert "--to names no format" in _one_error_line(proc)
    assert not (tmp_path / "out").exists()


def test_convert_onnx_to_all_says_why_nothing_is_made(cli, onnx_artifact, tmp_path):
    proc = cli("convert", onnx_artifact.path, "--to", "all", "--out", "out")
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "from onnx edgepress makes nothing" in line and "convert the PyTorch or Keras model" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "int16x8", "--to", "onnx,tflite,executorch"), "--mode int16x8 cannot make executorch"),
        (("--to", ""), "--to names no format"),
    ],
)
def test_quantize_refuses_formats_before_any_work(cli, linear_pt2, tmp_path, args, message):
    proc = cli("quantize", linear_pt2, "--data", "d.npz", *args, "--out", "out")
    assert proc.returncode == 2
    assert message in _one_error_line(proc)
    assert not (tmp_path / "out").exists()
