"""Sweeps over the digits model for real: cells cached by content, killed midway and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GRID = """
formats = ["pt2"]
targets = ["host-cpu", "arm64-emu:no-such-cpu-here"]
plugins = ["tests.sweep_passes"]

[model]
builtin = "digits"

[run]
iters = 5
min_seconds = 0.0

[[recipe]]
name = "fp32"
passes = []

[[recipe]]
name = "round2"
passes = [{ name = "test.round_weights", decimals = 2 }]

[[recipe]]
name = "round0"
passes = [{ name = "test.round_weights", decimals = 0 }]
"""


@pytest.fixture
def grid(tmp_path) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


def sweep_cli(grid: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "edgepress", "sweep", str(grid), "--out", str(out), "--jobs", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, start_new_session=True,
    )


def lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


@pytest.mark.slow
def test_killed_sweep_resumes_with_only_the_missing_cells(grid, tmp_path):
    out = tmp_path / "out"
    first = sweep_cli(grid, out)
    deadline = time.monotonic() + 600
    while not list((out / "cells").glob("*.json")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the CLI and its workers, as a Ctrl-\ or an OOM kill would
    first.wait()
    done_before = len(list((out / "cells").glob("*.json")))
    assert 1 <= done_before < 3
    assert not list((out / "cells").glob(".*"))  # no half-written cell file left behind

    second = sweep_cli(grid, out, "--max-drop", "1%")
    stdout, stderr = second.communicate(timeout=900)
    assert second.returncode == 0, stderr
    assert len(lines(stderr, "cached: ")) == done_before
    assert len(lines(stderr, "ran: ")) == 3 - done_before
    assert len(lines(stderr, "unavailable: ")) == 3  # arm64-emu cells recorded, not run, not cached
    assert "within budget: " in stdout or "over budget: " in stdout
    summary = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in summary["cells"]].count("ok") == 3
    assert (out / "report.html").exists() and (out / "report.md").exists()

    started = time.monotonic()
    third = sweep_cli(grid, out)
    _, stderr = third.communicate(timeout=300)
    assert third.returncode == 0 and lines(stderr, "ran: ") == [] and len(lines(stderr, "cached: ")) == 3
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_ray_executor_runs_cells_on_a_local_instance(grid, tmp_path):
    pytest.importorskip("ray", reason="Ray is in the 'distributed' extra")
    import edgepress
    from edgepress.sweeps.grid import load_grid
    from dataclasses import replace

    small = replace(load_grid(grid), targets=("host-cpu",))
    small = replace(small, recipes=small.recipes[:2])
    outcome = edgepress.sweep(small, tmp_path / "ray-out", executor="ray", jobs=2, max_drop=0.5, objective="size")
    assert outcome.ran == 2 and all(r.ok for r in outcome.results), [r.error for r in outcome.results]
    assert {r.artifact["recipe"] for r in outcome.results} == {"fp32", "round2"}
    assert outcome.choice is not None and outcome.choice.within_budget


def test_ray_missing_names_the_extra(monkeypatch):
    import builtins

    from edgepress.errors import BadInputError
    from edgepress.executors import make_executor

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(BadInputError, match=r"edgepress\[distributed\]"):
        make_executor("ray")
