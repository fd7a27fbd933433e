"""Shared fixtures: a small model in every source form, converted once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# One cache per pytest-xdist worker: the cache bounds its parts by evicting old entries, which
# must not be another worker's entry in use.
os.environ.setdefault("EDGEPRESS_CACHE", str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "edgepress" / os.environ.get("PYTEST_XDIST_WORKER", "main")))

INPUT_SHAPE = (1, 3, 16, 16)


@pytest.fixture(scope="session")
def torch_model():
    import torch

    import edgepress
    from tests.models import residual_net

    return edgepress.from_torch(residual_net(), torch.randn(*INPUT_SHAPE), name="resnet_tiny")


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def pt2_path(torch_model, session_dir) -> Path:
    import edgepress

    return edgepress.convert(torch_model, ["pt2"], out_dir=session_dir)[0].path


@pytest.fixture(scope="session")
def onnx_artifact(torch_model, session_dir):
    import edgepress

    return edgepress.convert(torch_model, ["onnx"], out_dir=session_dir)[0]


@pytest.fixture(scope="session")
def trap_onnx(session_dir):
    """ONNX form of ``tests.models.per_tensor_trap``: per-tensor INT8 misses a 5% budget, per-channel fits."""
    import torch

    import edgepress
    from tests.models import per_tensor_trap

    model = edgepress.from_torch(per_tensor_trap(), torch.zeros(*INPUT_SHAPE), name="trap")
    return edgepress.convert(model, ["onnx"], out_dir=session_dir)[0]


@pytest.fixture(scope="session")
def eval_npz(session_dir) -> Path:
    rng = np.random.default_rng(1)
    path = session_dir / "data.npz"
    np.savez(path, x=rng.standard_normal((12, *INPUT_SHAPE[1:])).astype(np.float32), y=rng.integers(0, 10, 12))
    return path


@pytest.fixture
def fast():
    """Run settings that keep unit tests quick (the protocol itself is unchanged)."""
    from edgepress.targets.base import RunSettings

    return RunSettings(threads=1, warmup=1, min_iters=5, min_seconds=0.0, max_seconds=5.0, timeout_s=120)
