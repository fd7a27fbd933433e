"""``edgepress quantize``: ONNX with the accuracy guard, PyTorch to several formats, bad input."""

import numpy as np
import pytest

from tests.cli.test_cli import _one_error_line
from tests.conftest import INPUT_SHAPE
from tests.models import varied_inputs


def _x(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *INPUT_SHAPE[1:])).astype(np.float32)


def test_max_drop_recovers_and_prints_what_it_changed(cli, trap_onnx, tmp_path):
    # Per-tensor weights break the trap model (tests.models.per_tensor_trap): the first
    # attempt must miss the budget and the guard's per-channel attempt must fit.
    np.savez(tmp_path / "calib.npz", x=varied_inputs(64))
    np.savez(tmp_path / "eval.npz", x=varied_inputs(48, seed=3))
    proc = cli("quantize", trap_onnx.path, "--data", "calib.npz", "--eval", "eval.npz", "--samples", "64",
               "--method", "minmax", "--per-tensor", "--max-drop", "5%", "--out", "out")
    assert proc.returncode == 0, proc.stderr
    attempts = [line for line in proc.stderr.splitlines() if line.strip()[:2] in {f"{i}." for i in range(1, 20)}]
    assert "(over)" in attempts[0] and "(fits)" in attempts[-1] and len(attempts) >= 2, proc.stderr
    assert "first attempt" in attempts[0] and "stopped: fits" in proc.stderr
    assert "per-channel weights" in attempts[-1]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.onnx")) == ["trap_int8.onnx"]


def test_quiet_prints_only_the_path(cli, onnx_artifact, tmp_path):
    # The default percentile calibration runs ORT's histogram calibrator, which prints progress.
    np.save(tmp_path / "calib.npy", _x(16))
    proc = cli("quantize", onnx_artifact.path, "--data", "calib.npy", "--out", "out", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["out/resnet_tiny_int8.onnx"]


def test_torch_model_to_two_formats(cli, pt2_path, tmp_path):
    np.save(tmp_path / "calib.npy", _x(16))
    proc = cli("quantize", pt2_path, "--data", "calib.npy", "--to", "onnx,executorch", "--out", "out", "-q")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.rsplit("/", 1)[-1] for p in proc.stdout.split()) == ["resnet_tiny_int8.onnx", "resnet_tiny_int8.pte"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("{pt2}", "--max-drop", "1%", "--to", "tflite"), "--max-drop guards ONNX Runtime quantization"),
        (("{onnx}", "--to", "tflite"), "an ONNX model quantizes to ONNX only"),
        (("{onnx}", "--data", "missing.npz"), "--data file not found"),
        (("{onnx}", "--data", "{bad}"), "expects samples shaped"),
        (("{onnx}", "--mode", "int4"), "unknown quantization mode"),
        (("{onnx}", "--max-drop", "150%"), "--max-drop must be between 0 and 1"),
        (("{onnx}", "--max-drop", "1%"), "--max-drop needs data to score on: pass --eval"),
        (("{onnx}", "--method", "mse"), "--method must be one of minmax, entropy, percentile, got 'mse'"),
        (("{onnx}", "--activations", "int4"), "--activations must be one of uint8, int8, int16"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cli, args, message, pt2_path, onnx_artifact, tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 16, 16, 3), np.float32))
    names = {"pt2": pt2_path, "onnx": onnx_artifact.path, "bad": tmp_path / "bad.npz"}
    proc = cli("quantize", *(a.format(**names) for a in args), "--out", "out")
    assert proc.returncode == 2, proc.stderr
    assert message in _one_error_line(proc)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.*"))
