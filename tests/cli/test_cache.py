"""The edgepress cache: no hidden model copies in --out, bounded calibration samples, ``edgepress cache info`` and ``clear``."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgepress import cachedir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of this test's own (the session's cache keeps the demo weights other tests use)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EDGEPRESS_CACHE", str(folder))
    return folder


def edgepress_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edgepress", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_converting_an_in_memory_model_leaves_no_hidden_copy_in_out(cache, tmp_path):
    import torch

    import edgepress

    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    (made,) = edgepress.convert(edgepress.from_torch(net, torch.randn(1, 4), name="mlp"), ["onnx"], out_dir=tmp_path / "out")
    assert made.path.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".edgepress", "mlp.onnx"]
    saved = list((cache / "sources").glob("*/mlp.pt2"))
    assert len(saved) == 1  # the source the converter read lives in the cache, by the model's digest
    again = edgepress.convert(edgepress.from_torch(net, torch.randn(1, 4), name="mlp"), ["onnx"], out_dir=tmp_path / "out")[0]
    assert again.sha256 == made.sha256 and list((cache / "sources").glob("*/mlp.pt2")) == saved  # reused, not re-saved


def test_calibration_samples_are_bounded_least_recently_used_first(cache, monkeypatch):
    from edgepress.artifact import InputSpec, TensorSpec
    from edgepress.data import EvalData, store_inputs, stored_inputs

    spec = InputSpec((TensorSpec("x", ("batch", 64)),))
    rng = np.random.default_rng(0)
    sets = [EvalData((rng.random((16, 64), dtype=np.float32),), None) for _ in range(4)]
    refs = [store_inputs(s, spec) for s in sets[:3]]
    paths = [Path(r.path) for r in refs]
    for age, path in zip((300, 200, 100), paths):  # stored 5, 3 and 2 minutes ago
        os.utime(path, (time.time() - age, time.time() - age))
    store_inputs(sets[0], spec)  # used again: now the most recent of the three
    size = paths[0].stat().st_size
    monkeypatch.setitem(cachedir.BOUNDS, "calibration", int(2.5 * size))

    newest = store_inputs(sets[3], spec)
    assert [p.exists() for p in paths] == [True, False, False] and Path(newest.path).exists()
    with pytest.raises(Exception, match="no longer in the edgepress cache; quantize the model again"):
        stored_inputs(refs[1])


def test_cache_info_and_clear(cache, tmp_path):
    (cache / "calibration").mkdir(parents=True)
    (cache / "calibration" / "a.npz").write_bytes(b"0" * 2048)
    (cache / "calibration" / "b.npz").write_bytes(b"0" * 1024)
    (cache / "mine.txt").write_text("not edgepress's")

    proc = edgepress_cli("cache", "info", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"cache: {cache}" in proc.stdout
    (row,) = [line for line in proc.stdout.splitlines() if "calibration" in line]
    assert "3.0 KiB" in row and " 2 " in row and "512.0 MiB" in row

    proc = edgepress_cli("cache", "clear", "bogus", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown cache part(s) bogus" in proc.stderr
    assert (cache / "calibration" / "a.npz").exists()

    proc = edgepress_cli("cache", "clear", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "removed calibration: 3.0 KiB" in proc.stdout
    assert list((cache / "calibration").iterdir()) == [] and (cache / "mine.txt").exists()  # only what edgepress makes is removed
