"""``convert.onnx``: PyTorch -> ONNX with torch.onnx's dynamo exporter (Keras: ``onnx_keras``), checked by onnx.checker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.converters.common import convert_with, quiet_exporter, torch_program
from edgepress.errors import ConversionError
from edgepress.passes import register

# Above this many bytes of weights, keep them in NAME.onnx.data (protobuf's 2 GB limit).
EXTERNAL_DATA_THRESHOLD = 1 << 30


@register
@dataclass(frozen=True)
class ConvertOnnx:
    """Export to ONNX (dynamo exporter), with an optional dynamic batch dimension.

    Large models keep their weights in a side file ``NAME.onnx.data``; edgepress treats
    the pair as one artifact (hashed, sized and moved together).
    """

    name: ClassVar[str] = "convert.onnx"
    summary: ClassVar[str] = "PyTorch (torch.onnx dynamo) or Keras (tf2onnx) -> ONNX, onnx.checker verified"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.TORCH_EXPORT, Format.KERAS})
    methods: ClassVar[dict[Format, str]] = {
        Format.TORCH: "torch.onnx dynamo exporter",
        Format.TORCH_EXPORT: "torch.onnx dynamo exporter",
        Format.KERAS: "tf2onnx (Keras 3: its frozen inference function; tf-keras: `from_keras`)",
    }

    opset: int = 18
    dynamic_batch: bool = True

    def output_format(self, source: Format) -> Format:
        return Format.ONNX

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        from edgepress.targets.signature import onnx_input_spec

        if artifact.format is Format.KERAS:
            from edgepress.converters.onnx_keras import refuse_keras_qat

            refuse_keras_qat(artifact)

        def spec_of(path: Path) -> Any:
            import onnx

            spec = onnx_input_spec(onnx.load(str(path), load_external_data=False))
            return spec.with_batch_name().with_layout(artifact.input_spec.layout)

        return convert_with(self, artifact, out_dir, Format.ONNX, self._write, spec_of)

    def _write(self, source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
        if source.format is Format.KERAS:
            from edgepress.converters.onnx_keras import export_keras

            converter = export_keras(source, path, self.opset, self.dynamic_batch)
        else:
            converter = self._export_torch(source, path)
        side_files, report = self._checked(path, converter)
        if source.quant is not None:  # a quantized handle: its float (or QAT QDQ) export, then ONNX Runtime's quantizer
            from edgepress.converters.onnx_quant import quantize_exported
            from edgepress.quantization import record

            report |= record(source.quant, quantize_exported(source.quant, path))
            report["ops"] = op_counts(_load(path))  # the quantized graph's, not the float export's
        from edgepress.converters.coverage import check

        return side_files, check(report, source.quant, "onnx", path)  # how much of it is really int8

    def _export_torch(self, source: Artifact, path: Path) -> str:
        import torch

        program = torch_program(source)
        if not self.dynamic_batch:
            program = _static_program(source, program)
        from edgepress.quantization import Mode

        if source.quant is not None and source.quant.mode is Mode.QAT:  # int8 weight initializers, not float weights + QuantizeLinear
            from edgepress.converters.pt2e import fold_weights

            program = fold_weights(program)
        big = sum(p.numel() * p.element_size() for p in program.state_dict.values()) > EXTERNAL_DATA_THRESHOLD
        with quiet_exporter():
            torch.onnx.export(program, (), str(path), dynamo=True, opset_version=self.opset, external_data=big, verbose=False)
        return f"torch.onnx {torch.__version__}"


    def _checked(self, path: Path, converter: str) -> tuple[tuple[Path, ...], dict[str, Any]]:
        import onnx

        try:
            onnx.checker.check_model(str(path), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ConversionError(f"the exported ONNX model failed onnx.checker: {str(exc).splitlines()[0]}") from None
        side = path.with_name(path.name + ".data")
        model = _load(path)
        _check_opset(model, self.opset)
        return ((side,) if side.exists() else ()), {"converter": converter, "ops": op_counts(model)}


def _load(path: Path) -> Any:
    import onnx

    return onnx.load(str(path), load_external_data=False)


def _check_opset(model: Any, wanted: int) -> None:
    """torch.onnx silently keeps opset 18 when it cannot down-convert: refuse that."""
    got = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if got != wanted:
        raise ConversionError(
            f"torch.onnx could not produce opset {wanted} for this model (it made opset {got}); "
            f"use opset {got} or newer, or convert with a runtime that reads opset {got}"
        )


def _static_program(source: Artifact, program: Any) -> Any:
    """Re-export with every dimension fixed to the example input's size."""
    import torch

    if source.format is Format.TORCH:
        return torch.export.export(source.model.module, source.model.example_inputs)
    return program  # a .pt2 keeps the shapes it was exported with


def op_counts(model: Any) -> dict[str, int]:
    """How many nodes of each operator type an ONNX graph holds (domain-qualified if not ai.onnx)."""
    counts: dict[str, int] = {}
    for node in model.graph.node:
        key = f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
