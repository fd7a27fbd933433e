"""PT2E on torch.export programs: what the ExecuTorch, TFLite and ONNX backends share.

Each backend lowers a handle's QuantSpec with its own quantizer
(``executorch_quant``: ExecuTorch's XNNPACK quantizer; ``tflite_quant``: litert-torch's
PT2E quantizer for dynamic INT8 and QAT graphs; ``onnx_quant``: QAT graphs) through the
helpers here: calibrating a prepared graph on the stored samples, splitting recurrent ops
so their weights quantize, and folding a QAT graph's weights into int8 constants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgepress.quantization import QuantSpec

# Recurrent ops PT2E quantizers skip as opaque nodes; split into Linear ops first (``_split_recurrent``).
RECURRENT_OPS = frozenset({"lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"})


def fold_weights(program: Any) -> Any:
    """A converted PT2E program with its weight quantize ops folded into int8 constants.

    QAT handles keep weights as float + quantize ops (``convert_pt2e(fold_quantize=False)``)
    because litert-torch lowers only that form; ExecuTorch's XNNPACK delegate and ONNX
    want int8 constants, which is what ``fold_quantize=True`` makes. Dynamic dimensions
    of ``program`` stay dynamic.
    """
    import torch
    from torchao.quantization.pt2e.constant_fold import constant_fold
    from torchao.quantization.pt2e.quantize_pt2e import _quant_node_constraint  # convert_pt2e's own fold rule

    module = program.module()
    constant_fold(module, _quant_node_constraint)
    user = set(program.graph_signature.user_inputs)
    values = [n.meta["val"] for n in program.graph.nodes if n.op == "placeholder" and n.name in user]
    examples = tuple(torch.zeros([d if isinstance(d, int) else 2 for d in v.shape], dtype=v.dtype) for v in values)
    shapes = tuple({i: torch.export.Dim.DYNAMIC for i, d in enumerate(v.shape) if not isinstance(d, int)} for v in values)
    return torch.export.export(module, examples, dynamic_shapes=shapes)


def calibrated(
    spec: QuantSpec, module: Any, examples: tuple[Any, ...], quantizer: Any, fold: bool, permute: Callable[[Any], Any] = lambda t: t, dynamic_shapes: Any = None
) -> Any:
    """``module`` quantized by ``quantizer``: exported, prepared, run on the spec's stored samples, converted."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from edgepress.data import batches, stored_inputs

    # dynamic dimensions (a sequence length) stay dynamic so samples of any length calibrate
    graph = _split_recurrent(torch.export.export(module, examples, dynamic_shapes=dynamic_shapes)).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in batches(stored_inputs(_samples_of(spec)), batch=int(examples[0].shape[0])):
            prepared(*(permute(torch.from_numpy(a)) for a in batch))
    converted = convert_pt2e(prepared, fold_quantize=fold)
    # Exported from an eval-mode module, the graph already holds inference ops; the flag
    # only tells converters so (exported modules refuse .eval()).
    converted.training = False
    return converted


def _samples_of(spec: QuantSpec) -> Any:
    from edgepress.errors import ConversionError

    if spec.data is None:
        raise ConversionError(f"this {spec.mode.value} recipe carries no calibration samples; quantize the model again")
    return spec.data


def _split_recurrent(program: Any) -> Any:
    """``program`` with its LSTM, GRU and RNN ops decomposed into the Linear ops they run.

    PT2E quantizers annotate ``aten.linear``; an ``aten.lstm`` node is one opaque op they
    leave float, so an LSTM classifier's "INT8" ``.pte`` came out at its float size.
    torch's own decompositions unroll it over the sequence into ``aten.linear`` calls
    that share each weight, plus the gates' pointwise math; the quantizer then stores
    those weights in int8 once each. A dynamic sequence length cannot be unrolled: such a
    program stays as it is (and its coverage report says what stayed float).
    """
    import torch

    used = {n.target for n in program.graph.nodes if n.op == "call_function"}
    table = torch.export.default_decompositions()
    recurrent = {op: table[op] for op in used if op in table and op.name().split("::")[-1].split(".")[0] in RECURRENT_OPS}
    placeholders = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"]
    dynamic = any(isinstance(d, torch.SymInt) for v in placeholders if isinstance(v, torch.Tensor) for d in v.shape)
    return program.run_decompositions(recurrent) if recurrent and not dynamic else program
