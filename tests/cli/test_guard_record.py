"""``quantize X.onnx --max-drop``: the guard's record is saved with the artifact, and an unguarded run does not reuse it."""

import json

import numpy as np
import pytest

import edgepress
from tests.conftest import INPUT_SHAPE


@pytest.mark.slow
def test_the_guard_record_is_kept_with_the_artifact(cli, onnx_artifact, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((16, *INPUT_SHAPE[1:]), dtype=np.float32))
    np.savez(tmp_path / "val.npz", x=rng.standard_normal((12, *INPUT_SHAPE[1:]), dtype=np.float32))
    made = tmp_path / "out" / "resnet_tiny_int8.onnx"
    sidecar = tmp_path / "out" / ".edgepress" / "resnet_tiny_int8.onnx.json"

    proc = cli("quantize", onnx_artifact.path, "--data", "calib.npz", "--eval", "val.npz", "--max-drop", "100%", "--out", "out")
    assert proc.returncode == 0, proc.stderr
    guarded = edgepress.load(made)
    guard = guarded.report["guard"]
    assert guard["max_drop"] == 1.0 and guard["stopped"] == "fits" and guard["attempts"][0]["fits"]
    assert "max_drop=1.0" in guarded.lineage[-1]
    guarded_key = json.loads(sidecar.read_text())["cache_key"]

    proc = cli("quantize", onnx_artifact.path, "--data", "calib.npz", "--out", "out")
    assert proc.returncode == 0, proc.stderr
    plain = edgepress.load(made)
    assert "guard" not in plain.report and "max_drop=None" in plain.lineage[-1]
    assert json.loads(sidecar.read_text())["cache_key"] != guarded_key
