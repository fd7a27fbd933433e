"""``gpu[:OPTIONS]``: a desktop NVIDIA GPU, measured in a worker process.

ONNX models run in ONNX Runtime's CUDA execution provider (``gpu``) or its TensorRT
provider (``gpu:tensorrt``, ``gpu:tensorrt+fp16``), which need ``onnxruntime-gpu``.
Torch artifacts (``.pt2``, TorchScript) run in PyTorch CUDA in fp32 (``gpu``), fp16
(``gpu:fp16``) or bf16 (``gpu:bf16``), timed with CUDA events after a synchronise.
``.tflite``, ``.pte`` and ``.ptl`` have no desktop-GPU runtime; they are refused with why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cached_property
from typing import TYPE_CHECKING

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
TORCH_FORMATS = (Format.TORCH_EXPORT, Format.TORCHSCRIPT)
NO_GPU_RUNTIME = {
    Format.TFLITE: "LiteRT has no desktop NVIDIA GPU runtime (its GPU delegate targets mobile OpenCL/OpenGL/Metal); measure .tflite on host-cpu or arm64-emu",
    Format.EXECUTORCH: "ExecuTorch's runtime in this build has no desktop CUDA backend; measure .pte on host-cpu or arm64-emu",
    Format.TORCHSCRIPT_LITE: "the TorchScript lite interpreter runs on CPU only; measure .ptl on host-cpu",
}


def parse_options(option: str | None) -> tuple[str, str]:
    """'tensorrt+fp16' -> ('tensorrt', 'fp16'); None -> ('cuda', 'fp32').

    Example:
        >>> parse_options("bf16")
        ('cuda', 'bf16')
    """
    provider, precision = "cuda", "fp32"
    for part in (option or "").split("+"):
        if part in PROVIDERS:
            provider = part
        elif part in PRECISIONS:
            precision = part
        elif part:
            raise BadInputError(f"unknown gpu option {part!r}; use gpu[:{'|'.join(PROVIDERS)}][+{'|'.join(PRECISIONS)}], e.g. gpu:tensorrt+fp16")
    if provider == "tensorrt" and precision == "bf16":
        raise BadInputError("gpu:tensorrt takes fp32 or fp16 (TensorRT's bf16 is not exposed by ONNX Runtime's options)")
    return provider, precision


class Gpu:
    """Desktop NVIDIA GPU: ONNX Runtime CUDA/TensorRT, PyTorch CUDA."""

    emulated = False

    def __init__(self, option: str | None = None) -> None:
        self.provider, self.precision = parse_options(option)
        self.name = "gpu" if option is None else f"gpu:{option}"

    def unavailable_reason(self) -> str | None:
        if self._driver_reason:
            return self._driver_reason
        if self._torch_reason and self._onnx_reason:
            return f"no GPU runtime: {self._torch_reason}; {self._onnx_reason}"
        return None

    def format_reason(self, fmt: Format) -> str | None:
        if fmt in NO_GPU_RUNTIME:
            return NO_GPU_RUNTIME[fmt]
        if fmt == Format.ONNX:
            if self.precision == "bf16" or (self.precision == "fp16" and self.provider == "cuda"):
                return f"ONNX Runtime's CUDA provider runs the model's own precision; convert the model to {self.precision} or use gpu:tensorrt+fp16"
            return self._driver_reason or self._onnx_reason
        if fmt in TORCH_FORMATS:
            return self._driver_reason or self._torch_reason
        return missing_runtime_reason(fmt)

    @property
    def device(self) -> str:
        """The worker's device string, e.g. 'cuda:fp16' or 'tensorrt:fp16'."""
        return self.provider + ("" if self.precision == "fp32" else f":{self.precision}")

    def _device_for(self, fmt: Format) -> str:
        if fmt == Format.ONNX:
            return self.device
        return "cuda" + ("" if self.precision == "fp32" else f":{self.precision}")

    def load(self, artifact: Artifact) -> RunFn:
        reason = self.unavailable_reason() or self.format_reason(artifact.format)
        if reason:
            raise RuntimeFailure(reason)
        run, _, _ = measure_worker.load_runner(artifact.format.value, str(artifact.path), 1, self._device_for(artifact.format))
        return run

    def measure(self, artifact: Artifact, inputs: list[np.ndarray], settings: RunSettings) -> Measurement:
        return run_worker([sys.executable], artifact, inputs, settings, device=self._device_for(artifact.format))

    @cached_property
    def _driver_reason(self) -> str | None:
        return driver_reason()

    @cached_property
    def _torch_reason(self) -> str | None:
        return torch_cuda_reason()

    @cached_property
    def _onnx_reason(self) -> str | None:
        return onnx_provider_reason("TensorrtExecutionProvider" if self.provider == "tensorrt" else "CUDAExecutionProvider")


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
