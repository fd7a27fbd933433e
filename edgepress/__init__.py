"""edgepress: compress trained models, convert them to edge formats, measure them on targets.

Example:
    >>> import edgepress, torch
    >>> m = edgepress.from_torch(net, torch.randn(1, 3, 32, 32))
    >>> arts = edgepress.convert(m, ["onnx"], out_dir="out")
    >>> results = edgepress.bench(arts, target="host-cpu", reference=m)

Importing this package imports no heavy framework; each function imports what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgepress._version import __version__

# public name -> module that defines it (loaded on first attribute access)
_EXPORTS = {
    "Format": "edgepress.artifact",
    "Artifact": "edgepress.artifact",
    "InputSpec": "edgepress.artifact",
    "TensorSpec": "edgepress.artifact",
    "Recipe": "edgepress.passes",
    "Pass": "edgepress.passes",
    "RunSettings": "edgepress.targets.base",
    "BenchResult": "edgepress.results",
    "EdgepressError": "edgepress.errors",
    "from_torch": "edgepress.intake.torch",
    "from_factory": "edgepress.intake.torch",
    "from_keras": "edgepress.intake.keras",
    "load": "edgepress.intake.files",
    "convert": "edgepress.conversion",
    "prune": "edgepress.compress.prune",
    "distill": "edgepress.compress.distill",
    "quantize": "edgepress.compress.quantize",
    "run_recipe": "edgepress.recipe_file",
    "bench": "edgepress.measure",
    "write_results": "edgepress.report.results",
    "read_results": "edgepress.report.results",
    "write_report": "edgepress.report.writer",
    "write_html_report": "edgepress.report.html",
    "sweep": "edgepress.sweeps.run",
    "from_hf": "edgepress.lm.hf",
    "convert_lm": "edgepress.lm.api",
    "quantize_lm": "edgepress.lm.api",
    "bench_lm": "edgepress.lm.bench",
    "load_lm": "edgepress.lm.bench",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:
    from edgepress.conversion import convert
    from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
    from edgepress.compress.distill import distill
    from edgepress.compress.prune import prune
    from edgepress.compress.quantize import quantize
    from edgepress.measure import bench
    from edgepress.results import BenchResult
    from edgepress.errors import EdgepressError
    from edgepress.intake.files import load
    from edgepress.intake.torch import from_factory, from_torch
    from edgepress.intake.keras import from_keras
    from edgepress.passes import Pass, Recipe
    from edgepress.recipe_file import run_recipe
    from edgepress.report.results import read_results, write_results
    from edgepress.report.html import write_html_report
    from edgepress.report.writer import write_report
    from edgepress.sweeps.run import sweep
    from edgepress.lm.api import convert_lm, quantize_lm
    from edgepress.lm.bench import bench_lm, load_lm
    from edgepress.lm.hf import from_hf
    from edgepress.targets.base import RunSettings


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edgepress' has no attribute {name!r}")
