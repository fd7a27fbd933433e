"""``convert.executorch``: PyTorch -> ExecuTorch ``.pte``, lowered to the XNNPACK delegate.

The conversion report lists which operators XNNPACK took and which stayed on ExecuTorch's
portable (reference) kernels. Portable fallbacks are the usual reason an edge model is
slower than expected, so any fallback sets the ``fallback_ops`` flag.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.converters.common import convert_with, example_inputs, quiet_exporter, refuse_fixed_shapes, static_program, static_spec
from edgepress.passes import register

# Graph bookkeeping, not compute: never counted as a fallback.
NOT_COMPUTE = {"getitem", "executorch_call_delegate", "Total"}  # "Total" is the summary row


class Backend(enum.Enum):
    XNNPACK = "xnnpack"  # optimised CPU kernels (Arm NEON, x86 AVX)
    PORTABLE = "portable"  # reference kernels only: for debugging a delegate


@register
@dataclass(frozen=True)
class ConvertExecuTorch:
    """Export with torch.export, lower with ``to_edge_transform_and_lower``, save the program."""

    name: ClassVar[str] = "convert.executorch"
    summary: ClassVar[str] = "PyTorch -> ExecuTorch .pte (XNNPACK delegate; reports delegated vs portable ops)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.TORCH_EXPORT})
    methods: ClassVar[dict[Format, str]] = dict.fromkeys((Format.TORCH, Format.TORCH_EXPORT), "to_edge_transform_and_lower + XNNPACK partitioner")

    backend: Backend = Backend.XNNPACK

    def output_format(self, source: Format) -> Format:
        return Format.EXECUTORCH

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        refuse_fixed_shapes(artifact, Format.EXECUTORCH)
        return convert_with(self, artifact, out_dir, Format.EXECUTORCH, self._write, lambda _: static_spec(artifact))

    def _write(self, source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
        from executorch.exir import to_edge_transform_and_lower

        partitioners = []
        if self.backend is Backend.XNNPACK:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

            partitioners = [XnnpackPartitioner()]
        from edgepress.converters.executorch_quant import quantized_program

        with quiet_exporter():
            # a quantized handle: its QuantSpec lowered with the XNNPACK quantizer, on the stored samples
            program = keepdim_means(static_program(source))
            program, facts = quantized_program(source.quant, program, example_inputs(source, 1), _kept_dims(source))
            edge = to_edge_transform_and_lower(program, partitioner=partitioners)
            report = delegation_report(edge.exported_program().graph_module)
            path.write_bytes(edge.to_executorch().buffer)
        report["converter"] = f"executorch {_version()}"
        report["backend"] = self.backend.value
        from edgepress.converters.coverage import check
        from edgepress.quantization import record

        return (), check(report | record(source.quant, facts), source.quant, "executorch", program=program)  # how much of it is really int8


def keepdim_means(program: Any) -> Any:
    """``program`` with each ``mean`` that drops its reduced dims rewritten as a keepdim mean and a reshape.

    XNNPACK takes a mean only with ``keepdim=True`` (over a 4-D tensor's two innermost
    dims); the ``x.mean((2, 3))`` that many CNNs write for global average pooling otherwise
    stays on ExecuTorch's portable kernels, cutting the graph in two around it. The reshape
    (a ``view_copy``) is free and XNNPACK takes it too.
    """
    import torch

    mean = torch.ops.aten.mean.dim

    def with_kept_dims(x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:
        if keepdim or not dim:
            return NotImplemented  # traced as it is
        dropped = {d % x.dim() for d in dim}
        return mean(x, dim, True, dtype=dtype).reshape([size for i, size in enumerate(x.shape) if i not in dropped])

    def drops_dims(node: Any) -> bool:
        keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        return node.target is mean and not keepdim

    if not any(drops_dims(n) for n in program.graph.nodes):
        return program
    return program.run_decompositions({mean: with_kept_dims})


def _kept_dims(source: Artifact) -> Any:
    """dynamic_shapes for the dimensions a .pte keeps (bounded, not the batch)."""
    from edgepress.converters.shapes import dims_of, export_dynamic_shapes

    return export_dynamic_shapes(dims_of(source), len(source.input_spec.tensors), keep_batch=False)


def delegation_report(graph_module: Any) -> dict[str, Any]:
    """Operators delegated to a backend vs left on portable kernels, from ExecuTorch's devtools."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    delegated: dict[str, int] = {}
    portable: dict[str, int] = {}
    for row in info.get_operator_delegation_dataframe().to_dict("records"):
        op = str(row["op_type"])
        if op in NOT_COMPUTE:
            continue
        if row["occurrences_in_delegated_graphs"]:
            delegated[op] = int(row["occurrences_in_delegated_graphs"])
        if row["occurrences_in_non_delegated_graphs"]:
            portable[op] = int(row["occurrences_in_non_delegated_graphs"])
    return {
        "delegated_ops": dict(sorted(delegated.items())),
        "portable_ops": dict(sorted(portable.items())),
        "delegate_subgraphs": int(info.num_delegated_subgraphs),
        "ops": dict(sorted({**portable, **{k: delegated.get(k, 0) + portable.get(k, 0) for k in delegated}}.items())),
        "flags": ["fallback_ops"] if portable else [],
    }


def _version() -> str:
    from importlib.metadata import version

    return version("executorch")
