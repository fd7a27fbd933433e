"""The desktop-GPU target: reasons and refusals everywhere, real runs where a GPU exists."""

from __future__ import annotations

import numpy as np
import pytest

from edgepress.artifact import Format
from edgepress.errors import BadInputError, TargetUnavailableError
from edgepress.targets.base import resolve, resolve_available
from edgepress.targets.gpu import Gpu, GpuOptions, driver_reason, parse_options

NO_GPU = Gpu().unavailable_reason()


def test_options_parse():
    assert parse_options(None) == GpuOptions("cuda", "fp32", compiled=False, fast=False)
    assert parse_options("tensorrt+fp16") == GpuOptions("tensorrt", "fp16")
    assert parse_options("fp16+compile") == GpuOptions("cuda", "fp16", compiled=True)
    assert parse_options("fast") == GpuOptions(fast=True)
    assert resolve("gpu:bf16").device_for(Format.TORCH_EXPORT) == "cuda:bf16" and resolve("gpu:tensorrt").device_for(Format.ONNX) == "tensorrt"
    with pytest.raises(BadInputError, match="unknown gpu option 'int4'"):
        parse_options("int4")
    with pytest.raises(BadInputError, match="tensorrt takes fp32 or fp16"):
        parse_options("tensorrt+bf16")
    with pytest.raises(BadInputError, match="give it alone"):
        parse_options("fast+fp32")
    with pytest.raises(BadInputError, match="TensorRT, which compiles the model itself"):
        parse_options("tensorrt+compile")


def test_fast_is_resolved_per_format():
    fast = Gpu("fast")
    assert fast.device_for(Format.TORCH_EXPORT) == "cuda:fp16+compile"
    assert fast.device_for(Format.TORCHSCRIPT) == "cuda:fp16"  # torch.compile cannot trace TorchScript
    has_tensorrt = fast._onnx_reason("tensorrt") is None
    assert fast.device_for(Format.ONNX) == ("tensorrt:fp16" if has_tensorrt else "cuda")
    assert Gpu("fp16+compile").device_for(Format.TORCH_EXPORT) == "cuda:fp16+compile"


def test_compile_is_refused_where_it_cannot_apply():
    assert "torch.compile cannot trace a TorchScript module" in Gpu("compile").format_reason(Format.TORCHSCRIPT)
    assert "ONNX Runtime optimises an ONNX graph itself" in Gpu("compile").format_reason(Format.ONNX)


def test_formats_without_a_desktop_gpu_runtime_say_why():
    gpu = Gpu()
    assert "LiteRT has no desktop NVIDIA GPU runtime" in gpu.format_reason(Format.TFLITE)
    assert "no desktop CUDA backend" in gpu.format_reason(Format.EXECUTORCH)
    assert "CPU only" in gpu.format_reason(Format.TORCHSCRIPT_LITE)
    assert "convert the model to fp16" in Gpu("fp16").format_reason(Format.ONNX)


@pytest.mark.skipif(NO_GPU is None, reason="this machine has a usable GPU")
def test_unavailable_reason_is_precise_without_a_gpu():
    reason = NO_GPU
    assert reason.startswith(("no NVIDIA GPU driver here", "nvidia-smi found no GPU", "no GPU runtime:"))
    if driver_reason() is None:  # a driver but no runtime: both runtimes are named
        assert "torch" in reason and "onnxruntime" in reason
    with pytest.raises(TargetUnavailableError, match="target 'gpu' is unavailable here"):
        resolve_available("gpu")


@pytest.mark.skipif(NO_GPU is None, reason="this machine has a usable GPU")
def test_bench_on_gpu_exits_2_here(onnx_artifact):
    from typer.testing import CliRunner

    from edgepress.cli.main import app

    result = CliRunner().invoke(app, ["bench", str(onnx_artifact.path), "--target", "host-cpu,gpu", "--quiet"])
    assert result.exit_code == 2
    assert "unavailable here" in result.output


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU is not None, reason=f"no GPU here: {NO_GPU}")
@pytest.mark.parametrize("option", [None, "fp16", "bf16", "compile", "fast"])
def test_torch_artifact_on_cuda(pt2_path, option, fast):
    import edgepress

    art = edgepress.load(pt2_path)
    target = Gpu(option)
    if target.format_reason(art.format):
        pytest.skip(target.format_reason(art.format))
    x = [np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)]
    m = target.measure(art, x, fast)
    cpu = resolve("host-cpu").load(art)(x)[0]
    tolerance = {None: 1e-3, "fp16": 5e-2, "bf16": 2e-1, "compile": 1e-3, "fast": 5e-2}[option]
    np.testing.assert_allclose(m.outputs[0], cpu, atol=tolerance, rtol=tolerance)
    assert "CUDA events" in m.raw["env"]["timing"] and m.raw["env"]["gpu"]["name"]
    assert ("CUDA graphs" in m.raw["env"].get("compile", "")) == (option in ("compile", "fast"))


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU is not None, reason=f"no GPU here: {NO_GPU}")
def test_onnx_on_cuda_provider(onnx_artifact, fast):
    target = Gpu()
    if target.format_reason(Format.ONNX):
        pytest.skip(target.format_reason(Format.ONNX))
    x = [np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)]
    m = target.measure(onnx_artifact, x, fast)
    np.testing.assert_allclose(m.outputs[0], resolve("host-cpu").load(onnx_artifact)(x)[0], atol=1e-3)
    assert m.raw["env"]["runtime"] == "onnxruntime (CUDAExecutionProvider)"


@pytest.mark.slow
def test_compiled_runner_matches_eager(tmp_path):
    """``+compile``'s worker path (channels_last, frozen weights, Inductor) on this machine's CPU:
    a user's CNN with batch norm, saved with torch.export at batch 1, dict output."""
    import torch
    from torch import nn

    from edgepress.targets import measure_worker

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8)
            self.depthwise, self.fc = nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.Linear(8, 5)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            y = nn.functional.relu6(self.bn(self.conv(x)))
            y = y + self.depthwise(y)
            return {"logits": self.fc(y.mean((2, 3))), "features": y}

    net = Net().eval()
    with torch.no_grad():  # batch norm statistics that folding must get right
        net.bn.running_mean.uniform_(-1, 1), net.bn.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(net, (torch.randn(1, 3, 32, 32),)), str(path))
    x = [np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)]
    eager, _, _ = measure_worker.load_runner("pt2", str(path), 1, "cpu")
    compiled, _, _ = measure_worker.load_runner("pt2", str(path), 1, "cpu:fp32+compile")
    want, got = measure_worker.run_batched(eager, x, 1), measure_worker.run_batched(compiled, x, 1)
    assert [g.shape for g in got] == [(3, 5), (3, 8, 16, 16)]
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-4)
    assert "frozen weights, channels_last" in measure_worker.environment("torch", torch.__version__, "cpu", compiled)["compile"]
