"""Which runtime runs which format: THE table, read by every target (host, QEMU sysroot, ssh board).

The stdlib-only measurement worker and the board agent run where edgepress is not
installed, so they keep their own lists; ``tests/targets/test_runtimes.py`` checks that
they agree with this one.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from edgepress.artifact import Format


@dataclass(frozen=True)
class Runtime:
    """A format's runtime: the module to import (``a|b``: either will do) and its pip package."""

    modules: str
    package: str

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self.modules.split("|"))

    @property
    def install(self) -> str:
        return f"pip install {self.package}"


RUNTIMES: dict[Format, Runtime] = {
    Format.ONNX: Runtime("onnxruntime", "onnxruntime"),
    Format.TFLITE: Runtime("ai_edge_litert|tflite_runtime", "ai-edge-litert"),  # tflite_runtime: older boards
    Format.EXECUTORCH: Runtime("executorch", "executorch"),
    Format.TORCHSCRIPT_LITE: Runtime("torch", "torch"),
    Format.TORCH_EXPORT: Runtime("torch", "torch"),
    Format.TORCHSCRIPT: Runtime("torch", "torch"),
}


def not_an_edge_artifact(fmt: Format) -> str:
    """The reason a format no runtime runs (a framework's in-memory model) is refused."""
    return f"{fmt.value} models are not an edge artifact to run; convert them first (edgepress convert)"


def missing_runtime_reason(fmt: Format) -> str | None:
    """Why ``fmt`` cannot run in this Python (None when its runtime is importable)."""
    if fmt not in RUNTIMES:
        return not_an_edge_artifact(fmt)
    runtime = RUNTIMES[fmt]
    if not any(importlib.util.find_spec(module) is not None for module in runtime.choices):
        return f"the {fmt.value} runtime ({runtime.modules.replace('|', ' or ')}) is not installed: {runtime.install}"
    return None
