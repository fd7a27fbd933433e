"""Converters run in child processes: a crash, a hang or an error costs one format only."""

import pytest
import torch

import edgepress
from edgepress.conversion import ConversionFailure
from edgepress.artifact import Format
from edgepress.errors import ConversionError
from edgepress.isolation import run_isolated
from edgepress.passes import create


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.setenv("EDGEPRESS_PLUGINS", "tests.plugin_passes")
    monkeypatch.setenv("PYTHONPATH", str(__import__("pathlib").Path(__file__).resolve().parent.parent))


def test_a_converter_killed_by_a_signal_becomes_an_error(plugins, pt2_path, tmp_path):
    with pytest.raises(ConversionError, match="SIGSEGV"):
        run_isolated(create("test.segfault"), edgepress.load(pt2_path), tmp_path)
    assert not (tmp_path / "resnet_tiny.onnx").exists()


def test_a_hung_converter_is_stopped(plugins, pt2_path, tmp_path):
    with pytest.raises(ConversionError, match="did not finish within 5 s"):
        run_isolated(create("test.hang"), edgepress.load(pt2_path), tmp_path, timeout_s=5)


class SvdNet(torch.nn.Module):
    """torch.linalg.svd has no ONNX operator, but TorchScript and torch.export handle it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svdvals(x.flatten(1).reshape(-1, 4, 4)).sum(-1)


def test_one_failing_format_does_not_stop_the_others(tmp_path):
    model = edgepress.from_torch(SvdNet(), torch.randn(1, 16), name="svd")
    made = edgepress.convert(model, ["onnx", "ptl"], out_dir=tmp_path, errors="collect")
    assert isinstance(made[0], ConversionFailure) and made[0].format is Format.ONNX and "convert.onnx" in made[0].error
    assert made[1].format is Format.TORCHSCRIPT_LITE and made[1].path.exists()
    assert not list(tmp_path.glob("*.onnx"))
    with pytest.raises(ConversionError, match=r"1 of 2 conversion\(s\) failed: onnx"):
        edgepress.convert(model, ["onnx", "ptl"], out_dir=tmp_path)


# Modules the children import after start-up: the converter child (json, concurrent via
# torch), the measurement worker (json, platform) and multiprocessing's spawned workers (pickle).
SHADOWED = ("json", "concurrent", "platform", "pickle")


@pytest.fixture
def hostile_cwd(tmp_path, monkeypatch):
    """A working directory whose modules shadow the standard library and leave a mark when run."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    for name in SHADOWED:
        (folder / f"{name}.py").write_text(f"open({str(folder / ('RAN_' + name))!r}, 'w').close()\n")
    monkeypatch.chdir(folder)
    return folder


def test_the_converter_child_never_imports_from_the_working_directory(pt2_path, hostile_cwd, tmp_path):
    made = run_isolated(create("convert.onnx"), edgepress.load(pt2_path), tmp_path / "out")
    assert made.path.exists() and made.path.suffix == ".onnx"
    assert not list(hostile_cwd.glob("RAN_*"))


def test_the_measurement_worker_never_imports_from_the_working_directory(onnx_artifact, hostile_cwd):
    import numpy as np

    from edgepress.targets.base import RunSettings

    data = np.random.default_rng(0).standard_normal((3, *onnx_artifact.input_spec.shapes[0][1:])).astype(np.float32)
    (result,) = edgepress.bench([onnx_artifact], data=data, settings=RunSettings(min_iters=2, min_seconds=0, warmup=0))
    assert result.error is None and result.latency_ms is not None
    assert not list(hostile_cwd.glob("RAN_*"))


def test_sweep_pool_workers_never_import_from_the_working_directory(hostile_cwd):
    from edgepress.executors import LocalPool

    pool = LocalPool(jobs=2)
    try:
        assert sorted(pool.map_unordered(abs, [-3, -4])) == [(0, 3), (1, 4)]
    finally:
        pool.close()
    assert not list(hostile_cwd.glob("RAN_*"))


def test_the_ssh_agent_never_imports_from_the_device_working_directory(hostile_cwd):
    import json
    import subprocess
    import sys

    from edgepress.targets.remote import _agent_source

    # the device runs `python -c AGENT` in the ssh user's home; here the hostile folder plays it
    proc = subprocess.run([sys.executable, "-c", _agent_source(), "probe"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["modules"]["numpy"] is True
    assert not list(hostile_cwd.glob("RAN_*"))
