"""arm64-emu under real QEMU with the real aarch64 runtimes (the sysroot is built on first use)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from edgepress.artifact import Format
from edgepress.errors import UnknownNameError
from edgepress.targets import qemu, sysroot
from edgepress.targets.arm import Arm64Emu, Arm64Native
from edgepress.targets.base import resolve

REASON = Arm64Emu().unavailable_reason()
pytestmark = [pytest.mark.arm, pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=f"arm64-emu unavailable: {REASON}")]

# 'sdot v0.4s, v1.16b, v2.16b; ret': a dot-product instruction ARMv8.0 cores lack.
SDOT = """
import ctypes, mmap, struct
code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
code.write(struct.pack("<II", 0x4E829420, 0xD65F03C0))
ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(code)))()
print("ran")
"""


@pytest.fixture(scope="module")
def root():
    return sysroot.ensure()


@pytest.fixture(scope="module")
def tflite_artifact(torch_model, session_dir):
    import edgepress

    return edgepress.convert(torch_model, ["tflite"], out_dir=session_dir)[0]


@pytest.fixture
def emu(fast):
    """Few timed runs: emulated timings are not the point, correctness and drift are."""
    return replace(fast, warmup=0, min_iters=2, timeout_s=600)


def _inputs(n=4):
    return [np.random.default_rng(0).standard_normal((n, 3, 16, 16)).astype(np.float32)]


def test_the_sysroot_is_verified_and_reused(root):
    marker = sysroot.read_marker(root)
    assert marker["verified"]["machine"] == "aarch64" and marker["verified"]["onnxruntime"]
    assert sysroot.ensure() == root


@pytest.mark.parametrize(("cpu", "part"), [("cortex-a53", "0xd03"), ("cortex-a72", "0xd08"), ("cortex-a76", "0xd0b"), ("neoverse-n1", "0xd0c")])
def test_each_cpu_model_sees_its_own_cpuinfo(root, cpu, part):
    proc = qemu.run_python(root, cpu, ["-c", "print(open('/proc/cpuinfo').read())"])
    assert proc.returncode == 0 and f"CPU part\t: {part}" in proc.stdout


def test_an_instruction_the_cpu_lacks_dies_with_sigill(root):
    assert qemu.run_python(root, "cortex-a76", ["-c", SDOT]).stdout.strip() == "ran"
    assert qemu.run_python(root, "cortex-a72", ["-c", SDOT]).returncode == -4  # SIGILL


def test_bench_onnx_and_tflite_with_drift_vs_reference_and_host(onnx_artifact, tflite_artifact, torch_model, emu):
    import edgepress

    results = edgepress.bench([onnx_artifact, tflite_artifact], target="host-cpu,arm64-emu:cortex-a76", reference=torch_model, settings=emu)
    host, arm = results[:2], results[2:]
    for result in arm:
        assert result.ok, result.error
        assert "emulated" in result.flags and result.env["emulated"] and result.env["cpu"]["machine"] == "aarch64"
        assert result.drift.max_abs < 1e-3 and result.drift_vs_host_cpu["max_abs"] < 1e-4
        assert result.env["cpu_model"] == "cortex-a76"
    assert all(r.ok and r.drift_vs_host_cpu is None and "emulated" not in r.flags for r in host)


@pytest.mark.parametrize("cpu", ["cortex-a53", "cortex-a72", "neoverse-n1", "max"])
def test_onnx_runs_on_every_cpu_model(onnx_artifact, cpu, emu):
    m = Arm64Emu(cpu).measure(onnx_artifact, _inputs(), emu)
    assert m.raw["drift_vs_host_cpu"]["max_abs"] < 1e-4 and m.raw["env"]["qemu_cpu"].startswith(cpu)


def test_a_failing_runtime_names_itself_and_the_cpu(onnx_artifact, emu, tmp_path):
    from edgepress.errors import RuntimeFailure

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(RuntimeFailure, match=r"onnxruntime 1\.\d+\.\d+ on arm64-emu:cortex-a53: .*broken.onnx"):
        Arm64Emu("cortex-a53").measure(onnx_artifact.derive(path=broken, side_files=()), _inputs(), emu)


def test_cli_bench_reports_both_formats(cli_json, onnx_artifact, tflite_artifact, pt2_path):
    doc = cli_json("bench", onnx_artifact.path, tflite_artifact.path, "--target", "arm64-emu:cortex-a76", "--ref", pt2_path, "--iters", "2", "--min-seconds", "0", "--warmup", "0")
    formats = {r["artifact"]["format"]: r for r in doc["results"]}
    assert set(formats) == {"onnx", "tflite"}
    for result in formats.values():
        assert result["error"] is None and result["drift"]["max_abs"] < 1e-3 and result["drift_vs_host_cpu"]["max_abs"] < 1e-4


def test_names_and_refusals():
    assert resolve("arm64-emu").name == "arm64-emu:cortex-a76"
    assert "no aarch64 runtime" in Arm64Emu().format_reason(Format.TORCH_EXPORT)
    with pytest.raises(UnknownNameError, match="did you mean 'cortex-a72'"):
        resolve("arm64-emu:cortx-a72")
    assert "not aarch64" in Arm64Native().unavailable_reason() or Arm64Native().unavailable_reason() is None


@pytest.fixture
def cli_json():
    import subprocess
    import sys

    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "edgepress", *map(str, args), "--json", "-", "--quiet"], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return run
