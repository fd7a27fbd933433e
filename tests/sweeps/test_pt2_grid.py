"""Sweeps of a user's own .pt2 (static batch 1, saved the default way): quantize recipes run, prune recipes are refused up front, failed cells fail the sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

GRID = """
formats = {formats}
targets = {targets}

[model]
path = "{model}"

[data]
path = "{data}"

[run]
iters = 3
min_seconds = 0.0
warmup = 1
{run}
"""


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> tuple[Path, Path]:
    """A small CNN exported at batch 1 with torch.export (no dynamic shapes), and 8 labelled samples."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 4),
    ).eval()
    folder = tmp_path_factory.mktemp("user")
    torch.export.save(torch.export.export(net, (torch.randn(1, 3, 16, 16),)), str(folder / "shapes.pt2"))
    rng = np.random.default_rng(0)
    np.savez(folder / "eval.npz", x=rng.random((8, 3, 16, 16), dtype=np.float32), y=rng.integers(0, 4, 8))
    return folder / "shapes.pt2", folder / "eval.npz"


def write_grid(folder: Path, model: Path, data: Path, recipes: str, formats: str = '["onnx", "tflite"]',
               targets: str = '["host-cpu"]', run: str = "") -> Path:
    path = folder / "grid.toml"
    path.write_text(GRID.format(formats=formats, targets=targets, model=model, data=data, run=run) + recipes)
    return path


def sweep_cli(grid: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edgepress", "sweep", str(grid), "--out", str(out), "--jobs", "1"],
                          capture_output=True, text=True, env=env, cwd=grid.parent, timeout=1200)


@pytest.mark.slow
def test_quantize_recipes_run_on_a_static_batch_pt2(user_files, tmp_path):
    model, data = user_files
    recipes = f"""
[[recipe]]
name = "fp32"
passes = []

[[recipe]]
name = "int8"
passes = [{{ name = "quantize.int8_static", data = "{data}" }}]
"""
    proc = sweep_cli(write_grid(tmp_path, model, data, recipes), tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    cells = {(r["artifact"]["recipe"], r["artifact"]["format"]): r for r in results}
    assert sorted(cells) == [("fp32", "onnx"), ("fp32", "tflite"), ("int8", "onnx"), ("int8", "tflite")]
    assert [r["error"] for r in results] == [None] * 4
    for fmt in ("onnx", "tflite"):
        fp32, int8 = cells["fp32", fmt], cells["int8", fmt]
        assert int8["artifact"]["lineage"][0].startswith("quantize.int8_static(")
        assert int8["artifact"]["size_bytes"] < 0.6 * fp32["artifact"]["size_bytes"]  # INT8 weights, not a float copy
        assert fp32["drift"]["cosine"] > 0.9999 and int8["drift"]["cosine"] > 0.99  # measured on all 8 samples
    assert cells["int8", "tflite"]["artifact"]["report"]["quantization"]["bias_corrected"] == 3  # both convs and the linear
    assert "0 failed" in proc.stdout


def test_prune_recipe_on_a_pt2_is_refused_before_any_cell_runs(user_files, tmp_path):
    model, data = user_files
    recipes = '\n[[recipe]]\nname = "fp32"\npasses = []\n\n[[recipe]]\nname = "prune50"\npasses = [{ name = "prune.channels", ratio = 0.5 }]\n'
    proc = sweep_cli(write_grid(tmp_path, model, data, recipes), tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "recipe 'prune50'" in lines[0] and "a pt2 file does not hold" in lines[0] and "factory" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_failed_cell_fails_the_sweep_but_an_unavailable_target_does_not(user_files, tmp_path):
    # The .pt2 itself is the pt2 cell (no conversion); a 10 ms limit stops its measurement on host-cpu.
    model, data = user_files
    recipes = '\n[[recipe]]\nname = "fp32"\npasses = []\n'
    grid = write_grid(tmp_path, model, data, recipes, formats='["pt2"]', targets='["host-cpu", "arm64-emu:no-such-cpu-here"]', run="timeout_s = 0.01")
    proc = sweep_cli(grid, tmp_path / "out")
    assert proc.returncode == 1, proc.stderr
    assert "1 unavailable, 1 failed" in proc.stdout
    assert "1 of 2 cell(s) failed" in proc.stderr and "Traceback" not in proc.stderr
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [c["status"] for c in summary["cells"]] == ["error", "unavailable"] and summary["failed"] == 1
    assert (tmp_path / "out" / "report.html").exists()  # the reports are written all the same
