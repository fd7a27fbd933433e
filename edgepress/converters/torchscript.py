"""``convert.ptl``: PyTorch -> TorchScript-lite ``.ptl`` for apps still on the lite interpreter.

The lite interpreter (PyTorch Mobile) is deprecated upstream in favour of ExecuTorch;
this converter exists for legacy apps only, and its artifacts carry a
``deprecated_format`` flag. The model is traced from its torch.export program (so the
graph matches the other converters'), then saved with ``_save_for_lite_interpreter``.
``optimize_for_mobile`` is not applied: it needs a torch build with XNNPACK, which the
CPU wheels lack.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.converters.common import convert_with, example_inputs, static_spec, torch_program
from edgepress.passes import register

DEPRECATION = "PyTorch Mobile's lite interpreter is deprecated upstream; prefer ExecuTorch (.pte)"


@register
@dataclass(frozen=True)
class ConvertTorchScriptLite:
    """Trace to TorchScript and save for the (deprecated) lite interpreter."""

    name: ClassVar[str] = "convert.ptl"
    summary: ClassVar[str] = "PyTorch -> TorchScript-lite .ptl (legacy PyTorch Mobile; deprecated upstream, prefer .pte)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.TORCH_EXPORT})
    methods: ClassVar[dict[Format, str]] = dict.fromkeys((Format.TORCH, Format.TORCH_EXPORT), "torch.jit.trace + _save_for_lite_interpreter (deprecated upstream)")

    def output_format(self, source: Format) -> Format:
        return Format.TORCHSCRIPT_LITE

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        return convert_with(self, artifact, out_dir, Format.TORCHSCRIPT_LITE, _write, lambda _: static_spec(artifact))


def _write(source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
    import torch

    program = torch_program(source)
    # Tracing records sizes as constants (a reshape keeps the traced batch), so the .ptl is
    # made for batch 1, like the other edge formats, and its spec says so.
    examples = example_inputs(source, batch=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(_FlatOutputs(program.module()), examples, check_trace=False)
        traced._save_for_lite_interpreter(str(path))
        ops = _op_counts(traced)
    report = {"converter": f"torch.jit {torch.__version__}", "ops": ops, "deprecated": DEPRECATION, "flags": ["deprecated_format"]}
    return (), report


def _FlatOutputs(module: Any) -> Any:
    """``module`` returning its outputs as one flat tuple, in torch.export's order.

    The tracer refuses dict outputs, and the lite interpreter hands back containers the
    runners would have to guess at; every other format already flattens them this way.
    """
    import torch

    from edgepress.targets.worker import flatten_outputs

    class FlatOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *args: Any) -> tuple[Any, ...]:
            return tuple(flatten_outputs(self.inner(*args)))

    return FlatOutputs()


def _op_counts(traced: Any) -> dict[str, int]:
    """How many times each aten operator appears in the traced graph."""
    counts: dict[str, int] = {}
    for node in traced.inlined_graph.nodes():
        if node.kind().startswith("aten::"):
            counts[node.kind()] = counts.get(node.kind(), 0) + 1
    return dict(sorted(counts.items()))
