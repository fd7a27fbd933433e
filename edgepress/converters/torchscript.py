"""``convert.ptl``: PyTorch -> TorchScript-lite ``.ptl``; ``convert.torchscript_onnx``: TorchScript ``.pt`` -> ONNX.

The lite interpreter (PyTorch Mobile) is deprecated upstream in favour of ExecuTorch;
``convert.ptl`` exists for legacy apps only, and its artifacts carry a
``deprecated_format`` flag. A PyTorch model is traced from its torch.export program (so
the graph matches the other converters'), a TorchScript file is already a ScriptModule;
both are saved with ``_save_for_lite_interpreter``. ``optimize_for_mobile`` is not
applied: it needs a torch build with XNNPACK, which the CPU wheels lack.

A TorchScript ``.pt`` goes to ONNX through torch.onnx's TorchScript exporter
(``dynamo=False``), the one exporter that takes a ScriptModule. TFLite, ExecuTorch and
``.pt2`` all start from torch.export, which cannot take one (see ``api.UNSUPPORTED_WHY``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format, InputSpec
from edgepress.converters.common import convert_with, example_inputs, quiet_exporter, refuse_fixed_shapes, static_spec, torch_program
from edgepress.passes import register

DEPRECATION = "PyTorch Mobile's lite interpreter is deprecated upstream; prefer ExecuTorch (.pte)"


@register
@dataclass(frozen=True)
class ConvertTorchScriptLite:
    """Trace to TorchScript and save for the (deprecated) lite interpreter."""

    name: ClassVar[str] = "convert.ptl"
    summary: ClassVar[str] = "PyTorch -> TorchScript-lite .ptl (legacy PyTorch Mobile; deprecated upstream, prefer .pte)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.TORCH_EXPORT, Format.TORCHSCRIPT})
    methods: ClassVar[dict[Format, str]] = {
        **dict.fromkeys((Format.TORCH, Format.TORCH_EXPORT), "torch.jit.trace + _save_for_lite_interpreter (deprecated upstream)"),
        Format.TORCHSCRIPT: "_save_for_lite_interpreter on the loaded ScriptModule (deprecated upstream)",
    }

    def output_format(self, source: Format) -> Format:
        return Format.TORCHSCRIPT_LITE

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        if artifact.format is Format.TORCHSCRIPT:  # the same graph: it takes what the .pt takes
            return convert_with(self, artifact, out_dir, Format.TORCHSCRIPT_LITE, _write_script, lambda _: artifact.input_spec)
        refuse_fixed_shapes(artifact, Format.TORCHSCRIPT_LITE)
        return convert_with(self, artifact, out_dir, Format.TORCHSCRIPT_LITE, _write, lambda _: static_spec(artifact))


@register
@dataclass(frozen=True)
class ConvertTorchScriptOnnx:
    """Export a TorchScript ``.pt`` to ONNX with torch.onnx's TorchScript exporter, checked by onnx.checker."""

    name: ClassVar[str] = "convert.torchscript_onnx"
    summary: ClassVar[str] = "TorchScript .pt -> ONNX (torch.onnx TorchScript exporter, dynamo=False), onnx.checker verified"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCHSCRIPT})
    methods: ClassVar[dict[Format, str]] = {Format.TORCHSCRIPT: "torch.onnx TorchScript exporter (dynamo=False)"}

    opset: int = 18
    dynamic_batch: bool = True

    def output_format(self, source: Format) -> Format:
        return Format.ONNX

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        def spec_of(path: Path) -> InputSpec:
            import onnx

            from edgepress.targets.signature import onnx_input_spec

            return onnx_input_spec(onnx.load(str(path), load_external_data=False)).with_layout(artifact.input_spec.layout)

        return convert_with(self, artifact, out_dir, Format.ONNX, self._write, spec_of)

    def _write(self, source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
        import torch

        from edgepress.converters.onnx import ConvertOnnx

        module = _script_module(source)
        examples = example_inputs(source, batch=1)
        inputs = list(source.input_spec.names)
        outputs = [f"output_{i}" for i in range(_output_count(module, examples))] if self.dynamic_batch else None
        axes = {name: {0: "batch"} for name in (*inputs, *(outputs or ()))} if self.dynamic_batch else None
        with quiet_exporter(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's own deprecation notice: this is the exporter ScriptModules have
            torch.onnx.export(module, examples, str(path), dynamo=False, opset_version=self.opset, input_names=inputs,
                              output_names=outputs, dynamic_axes=axes)
        return ConvertOnnx(opset=self.opset)._checked(path, f"torch.onnx {torch.__version__} (TorchScript exporter)")


def _script_module(source: Artifact) -> Any:
    import torch

    return source.model if source.model is not None else torch.jit.load(str(source.path), map_location="cpu")


def _output_count(module: Any, examples: tuple[Any, ...]) -> int:
    """How many tensors the module returns (each gets a named, batch-dynamic ONNX output)."""
    import torch

    with torch.no_grad():
        out = module(*examples)
    return len(out) if isinstance(out, (tuple, list)) else 1


def _write_script(source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
    import torch

    module = _script_module(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the lite interpreter's deprecation notice is in the report instead
        module._save_for_lite_interpreter(str(path))
    report = {"converter": f"torch.jit {torch.__version__}", "ops": _op_counts(module), "deprecated": DEPRECATION, "flags": ["deprecated_format"]}
    return (), report


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

    from edgepress.targets.measure_worker import flatten_outputs

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
