"""Which runtime runs which format, and whether it is installed here."""

from __future__ import annotations

import importlib.util

from edgepress.artifact import Format

# format -> (import name of its runtime, what to install when it is missing)
RUNTIMES: dict[Format, tuple[str, str]] = {
    Format.ONNX: ("onnxruntime", "pip install onnxruntime"),
    Format.TFLITE: ("ai_edge_litert", "pip install ai-edge-litert"),
    Format.EXECUTORCH: ("executorch", "pip install executorch"),
    Format.TORCHSCRIPT_LITE: ("torch", "pip install torch"),
    Format.TORCH_EXPORT: ("torch", "pip install torch"),
    Format.TORCHSCRIPT: ("torch", "pip install torch"),
}


def missing_runtime_reason(fmt: Format) -> str | None:
    """Why ``fmt`` cannot run in this Python (None when its runtime is importable)."""
    if fmt not in RUNTIMES:
        return f"{fmt.value} models are not an edge artifact to run; convert them first (edgepress convert)"
    module, install = RUNTIMES[fmt]
    if importlib.util.find_spec(module) is None:
        return f"the {fmt.value} runtime ({module}) is not installed: {install}"
    return None
