"""How much of a quantized artifact is INT8: the share of its weight values stored in 8 bits.

Every quantizer covers the layers it has patterns for and leaves the rest in float without
a word: XNNPACK's PT2E quantizer takes Linear and Conv but not LSTM, GRU or Embedding;
ONNX Runtime's static QDQ leaves an LSTM node float; ai-edge-quantizer leaves an
EMBEDDING_LOOKUP float. A model whose weights sit in such layers comes out "INT8" at its
float size. Each converter therefore reads what its file (or the program it lowers)
holds and records ``quantized_weight_fraction`` and the float weights by the operator
that reads them; a small fraction flags the artifact (``not_quantized``,
``partly_quantized``) and the CLI says so.

Weights are the constant tensors of at least two dimensions (weight matrices, kernels,
embedding tables): biases, quantization scales and shape constants are left out of both
sides, so the fraction means the same in every format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepress.quantization import REPORT_KEY, Mode, QuantSpec

NOT_QUANTIZED_BELOW = 0.10  # under this share of INT8 weights the artifact is flagged not_quantized
PARTLY_QUANTIZED_BELOW = 0.5  # ... and under this one partly_quantized
LOW_BITS = frozenset({"int8", "uint8", "int4", "uint4"})
WARNING_KEY = "coverage_warning"  # the sentence the CLI prints for a flagged artifact
INT8_MODES = frozenset({Mode.INT8_STATIC, Mode.INT8_DYNAMIC, Mode.QAT})  # recipes whose artifacts should hold int8 weights
# What each format's quantizer covers, for the warning (the operators left float follow it).
WHY = {
    "executorch": "XNNPACK's INT8 quantizer covers Linear and Conv layers (LSTM and GRU through their Linear parts), not Embedding",
    "onnx": "ONNX Runtime's static QDQ quantizer leaves LSTM and GRU nodes float (--mode int8_dynamic quantizes their weights)",
    "tflite": "ai-edge-quantizer leaves some operators float (EMBEDDING_LOOKUP among them)",
}


@dataclass(frozen=True)
class Coverage:
    """Weight values stored in 8 bits or fewer, and float weight values by the operator reading them."""

    quantized: int
    float_by_op: dict[str, int] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        total = self.quantized + sum(self.float_by_op.values())
        return self.quantized / total if total else 0.0


def onnx_coverage(path: Path) -> Coverage:
    """Coverage of an ONNX file from its initializers' element types."""
    import math

    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    readers = {name: node.op_type for node in reversed(graph.node) for name in node.input}
    quantized, floats = 0, {}
    for init in graph.initializer:
        if len(init.dims) < 2:
            continue
        kind = onnx.TensorProto.DataType.Name(init.data_type).lower()  # "float", "double", "int8", ...
        _count(kind, math.prod(init.dims), readers.get(init.name, "unused"), floats)
        quantized += math.prod(init.dims) if kind in LOW_BITS else 0
    return Coverage(quantized, floats)


def tflite_coverage(path: Path) -> Coverage:
    """Coverage of a ``.tflite`` from the tensor types of its constant tensors."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    quantized, floats = 0, {}
    for graph in model.subgraphs:
        readers = {i: ops.get(max(model.operatorCodes[op.opcodeIndex].builtinCode, model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode), "CUSTOM")
                   for op in graph.operators for i in op.inputs}
        parameters = _blockwise_parameters(graph.tensors)
        for index, tensor in enumerate(graph.tensors):
            data = model.buffers[tensor.buffer].data
            if data is None or len(data) == 0 or tensor.shape is None or len(tensor.shape) < 2 or index in parameters:
                continue
            size = int(np.prod(tensor.shape))
            kind = types[tensor.type]
            quantized += size if kind in LOW_BITS else 0
            _count(kind, size, readers.get(index, "unused"), floats)
    return Coverage(quantized, floats)


def _blockwise_parameters(tensors: Any) -> set[int]:
    """Tensors holding blockwise scales and zero points: quantization parameters of a weight, not weights."""
    from ai_edge_litert import schema_py_generated as schema

    found = set()
    for tensor in tensors:
        details = tensor.quantization.details if tensor.quantization is not None else None
        if isinstance(details, schema.BlockwiseQuantizationT):
            found |= {details.scales, details.zeroPoints} if details.zeroPoints else {details.scales}
    return found


def program_coverage(program: Any) -> Coverage:
    """Coverage of a torch.export program (what ExecuTorch lowers) from its used constant tensors."""
    signature = program.graph_signature
    named = {**signature.inputs_to_parameters, **signature.inputs_to_buffers, **signature.inputs_to_lifted_tensor_constants}
    values = {**program.state_dict, **program.constants}
    quantized, floats = 0, {}
    for node in program.graph.nodes:
        tensor = values.get(named.get(node.name, ""))
        if node.op != "placeholder" or not node.users or tensor is None or tensor.dim() < 2:
            continue
        kind = str(tensor.dtype).removeprefix("torch.")
        quantized += tensor.numel() if kind in LOW_BITS else 0
        _count(kind, tensor.numel(), _op_name(next(iter(node.users))), floats)
    return Coverage(quantized, floats)


def check(report: dict[str, Any], spec: QuantSpec | None, fmt: str, path: Path | None = None, program: Any = None) -> dict[str, Any]:
    """``mark`` an INT8 artifact's report with the coverage of its file (ONNX, TFLite) or of the program ExecuTorch lowers.

    Reports of float or FP16 artifacts come back unchanged.
    """
    if spec is None or spec.mode not in INT8_MODES:
        return report
    if program is not None:
        return mark(report, fmt, program_coverage(program))
    return mark(report, fmt, onnx_coverage(path) if fmt == "onnx" else tflite_coverage(path))


def mark(report: dict[str, Any], fmt: str, coverage: Coverage) -> dict[str, Any]:
    """Record ``coverage`` in the report's quantization entry; flag the report and explain when little is INT8."""
    quantization = report.setdefault(REPORT_KEY, {})
    quantization["quantized_weight_fraction"] = round(coverage.fraction, 4)
    quantization["float_weights_by_op"] = dict(sorted(coverage.float_by_op.items(), key=lambda kv: -kv[1]))
    if coverage.fraction >= PARTLY_QUANTIZED_BELOW:
        return report
    flag = "not_quantized" if coverage.fraction < NOT_QUANTIZED_BELOW else "partly_quantized"
    report["flags"] = [*report.get("flags", []), flag]
    top = ", ".join(f"{op} {n:,}" for op, n in list(quantization["float_weights_by_op"].items())[:3])
    quantization[WARNING_KEY] = f"{fmt}: {WHY[fmt]}; {coverage.fraction:.1%} of the weights are INT8 (float weight values by operator: {top})"
    return report


def _count(kind: str, size: int, op: str, floats: dict[str, int]) -> None:
    if kind.startswith(("float", "bfloat", "double")):
        floats[op] = floats.get(op, 0) + size


def _op_name(node: Any) -> str:
    """``aten.embedding.default`` -> ``embedding``."""
    target = str(node.target)
    return target.split(".")[1] if target.startswith(("aten.", "quantized_decomposed.")) else target
