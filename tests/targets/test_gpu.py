"""The desktop-GPU target: reasons and refusals everywhere, real runs where a GPU exists."""

from __future__ import annotations

import numpy as np
import pytest

from edgepress.artifact import Format
from edgepress.errors import BadInputError, TargetUnavailableError
from edgepress.targets.base import resolve, resolve_available
from edgepress.targets.gpu import Gpu, driver_reason, parse_options

NO_GPU = Gpu().unavailable_reason()


def test_options_parse():
    assert parse_options(None) == ("cuda", "fp32")
    assert parse_options("tensorrt+fp16") == ("tensorrt", "fp16")
    assert resolve("gpu:bf16").device == "cuda:bf16" and resolve("gpu:tensorrt").device == "tensorrt"
    with pytest.raises(BadInputError, match="unknown gpu option 'int4'"):
        parse_options("int4")
    with pytest.raises(BadInputError, match="tensorrt takes fp32 or fp16"):
        parse_options("tensorrt+bf16")


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
@pytest.mark.parametrize("option", [None, "fp16", "bf16"])
def test_torch_artifact_on_cuda(pt2_path, option, fast):
    import edgepress

    art = edgepress.load(pt2_path)
    target = Gpu(option)
    if target.format_reason(art.format):
        pytest.skip(target.format_reason(art.format))
    x = [np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)]
    m = target.measure(art, x, fast)
    cpu = resolve("host-cpu").load(art)(x)[0]
    tolerance = {None: 1e-3, "fp16": 5e-2, "bf16": 2e-1}[option]
    np.testing.assert_allclose(m.outputs[0], cpu, atol=tolerance, rtol=tolerance)
    assert "CUDA events" in m.raw["env"]["timing"] and m.raw["env"]["gpu"]["name"]


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
