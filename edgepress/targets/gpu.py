"""``gpu[:OPTIONS]``: a desktop NVIDIA GPU, measured in a worker process.

ONNX models run in ONNX Runtime's CUDA execution provider (``gpu``) or its TensorRT
provider (``gpu:tensorrt``, ``gpu:tensorrt+fp16``), which need ``onnxruntime-gpu``.
Torch artifacts (``.pt2``, TorchScript) run in PyTorch CUDA in fp32 (``gpu``), fp16
(``gpu:fp16``) or bf16 (``gpu:bf16``), timed with CUDA events after a synchronise.
``+compile`` runs a ``.pt2`` through ``torch.compile`` (channels_last, Inductor with frozen
weights, CUDA graphs). ``gpu:fast`` is the runner's own pick of its fastest setting:
fp16 + compile for a ``.pt2``, fp16 eager for TorchScript, TensorRT fp16 for ONNX where
ONNX Runtime has that provider (else CUDA fp32). Its outputs' drift against the original
is measured as for any other cell, so the cost in accuracy is in the same row.
``.tflite``, ``.pte`` and ``.ptl`` have no desktop-GPU runtime; they are refused with why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError, RuntimeFailure
from edgepress.targets import measure_worker
from edgepress.targets.base import Measurement, RunFn, RunSettings
from edgepress.targets.launch import run_worker
from edgepress.targets.runtimes import missing_runtime_reason

if TYPE_CHECKING:
    import numpy as np

PROVIDERS = ("cuda", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16")
COMPILE, FAST = "compile", "fast"
TORCH_FORMATS = (Format.TORCH_EXPORT, Format.TORCHSCRIPT)
NO_GPU_RUNTIME = {
    Format.TFLITE: "LiteRT has no desktop NVIDIA GPU runtime (its GPU delegate targets mobile OpenCL/OpenGL/Metal); measure .tflite on host-cpu or arm64-emu",
    Format.EXECUTORCH: "ExecuTorch's runtime in this build has no desktop CUDA backend; measure .pte on host-cpu or arm64-emu",
    Format.TORCHSCRIPT_LITE: "the TorchScript lite interpreter runs on CPU only; measure .ptl on host-cpu",
}
USAGE = f"gpu[:{'|'.join(PROVIDERS)}][+{'|'.join(PRECISIONS)}][+{COMPILE}] or gpu:{FAST}, e.g. gpu:tensorrt+fp16"


class GpuOptions(NamedTuple):
    """What ``gpu:OPTIONS`` asks for; ``fast`` leaves the rest to the runner, per format."""

    provider: str = "cuda"
    precision: str = "fp32"
    compiled: bool = False
    fast: bool = False


def parse_options(option: str | None) -> GpuOptions:
    """'tensorrt+fp16' -> GpuOptions('tensorrt', 'fp16'); None -> GpuOptions('cuda', 'fp32').

    Example:
        >>> parse_options("bf16+compile")
        GpuOptions(provider='cuda', precision='bf16', compiled=True, fast=False)
    """
    if option == FAST:
        return GpuOptions(fast=True)
    provider, precision, compiled = "cuda", "fp32", False
    for part in (option or "").split("+"):
        if part in PROVIDERS:
            provider = part
        elif part in PRECISIONS:
            precision = part
        elif part == COMPILE:
            compiled = True
        elif part == FAST:
            raise BadInputError("gpu:fast picks the provider, precision and compilation itself; give it alone")
        elif part:
            raise BadInputError(f"unknown gpu option {part!r}; use {USAGE}")
    if provider == "tensorrt" and precision == "bf16":
        raise BadInputError("gpu:tensorrt takes fp32 or fp16 (TensorRT's bf16 is not exposed by ONNX Runtime's options)")
    if provider == "tensorrt" and compiled:
        raise BadInputError("gpu:tensorrt runs ONNX in TensorRT, which compiles the model itself; +compile is for .pt2 files on gpu[:fp16|bf16]")
    return GpuOptions(provider, precision, compiled)


class Gpu:
    """Desktop NVIDIA GPU: ONNX Runtime CUDA/TensorRT, PyTorch CUDA."""

    emulated = False

    def __init__(self, option: str | None = None) -> None:
        self.options = parse_options(option)
        self.name = "gpu" if option is None else f"gpu:{option}"

    def unavailable_reason(self) -> str | None:
        if self._driver_reason:
            return self._driver_reason
        onnx_reason = self._onnx_reason(self.settings_for(Format.ONNX).provider)
        if self._torch_reason and onnx_reason:
            return f"no GPU runtime: {self._torch_reason}; {onnx_reason}"
        return None

    def settings_for(self, fmt: Format) -> GpuOptions:
        """The provider, precision and compilation this target runs ``fmt`` with (``fast`` resolved)."""
        if not self.options.fast:
            return self.options
        if fmt == Format.ONNX:  # TensorRT where ONNX Runtime has it; the model's own precision otherwise
            return GpuOptions("tensorrt", "fp16") if self._onnx_reason("tensorrt") is None else GpuOptions()
        return GpuOptions("cuda", "fp16", compiled=fmt == Format.TORCH_EXPORT)

    def format_reason(self, fmt: Format) -> str | None:
        if fmt in NO_GPU_RUNTIME:
            return NO_GPU_RUNTIME[fmt]
        provider, precision, compiled, _ = self.settings_for(fmt)
        if fmt == Format.ONNX:
            if compiled:
                return "+compile runs a .pt2 through torch.compile; ONNX Runtime optimises an ONNX graph itself (use gpu or gpu:tensorrt)"
            if precision == "bf16" or (precision == "fp16" and provider == "cuda"):
                return f"ONNX Runtime's CUDA provider runs the model's own precision; convert the model to {precision} or use gpu:tensorrt+fp16"
            return self._driver_reason or self._onnx_reason(provider)
        if fmt in TORCH_FORMATS:
            if compiled and fmt == Format.TORCHSCRIPT:
                return "torch.compile cannot trace a TorchScript module; save the model with torch.export (.pt2) to compile it, or measure it on gpu[:fp16]"
            return self._driver_reason or self._torch_reason
        return missing_runtime_reason(fmt)

    def device_for(self, fmt: Format) -> str:
        """The worker's device string for ``fmt``, e.g. 'cuda:fp16+compile' or 'tensorrt:fp16'."""
        provider, precision, compiled, _ = self.settings_for(fmt)
        if fmt != Format.ONNX:
            return f"cuda:{precision}" + (f"+{COMPILE}" if compiled else "")
        return provider + ("" if precision == "fp32" else f":{precision}")

    def load(self, artifact: Artifact) -> RunFn:
        reason = self.unavailable_reason() or self.format_reason(artifact.format)
        if reason:
            raise RuntimeFailure(reason)
        run, _, _ = measure_worker.load_runner(artifact.format.value, str(artifact.path), 1, self.device_for(artifact.format))
        return run

    def measure(self, artifact: Artifact, inputs: list[np.ndarray], settings: RunSettings) -> Measurement:
        return run_worker([sys.executable], artifact, inputs, settings, device=self.device_for(artifact.format))

    @cached_property
    def _driver_reason(self) -> str | None:
        return driver_reason()

    @cached_property
    def _torch_reason(self) -> str | None:
        return torch_cuda_reason()

    def _onnx_reason(self, provider: str) -> str | None:
        return onnx_provider_reason("TensorrtExecutionProvider" if provider == "tensorrt" else "CUDAExecutionProvider")


def driver_reason() -> str | None:
    """Why there is no usable NVIDIA GPU (no nvidia-smi, or it lists none); None if there is."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "no NVIDIA GPU driver here (nvidia-smi not found on PATH)"
    try:
        proc = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi failed: {exc}"
    if proc.returncode != 0 or "GPU " not in proc.stdout:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return f"nvidia-smi found no GPU: {detail[-1] if detail else f'exit status {proc.returncode}'}"
    return None


def torch_cuda_reason() -> str | None:
    """Why PyTorch cannot use CUDA here (None when it can)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed"
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (install a CUDA build of torch)"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}): torch.cuda.is_available() is False"
    return None


def onnx_provider_reason(provider: str) -> str | None:
    """Why ONNX Runtime here lacks ``provider`` (None when it has it)."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed (pip install onnxruntime-gpu)"
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if provider not in available:
        return f"onnxruntime {onnxruntime.__version__} has no {provider} (it has {', '.join(available)}; pip install onnxruntime-gpu)"
    return None
