"""PT2E quantization of PyTorch programs, applied when a quantized handle is converted.

``edgepress.quantize(torch_model, "int8")`` records a recipe on the handle; each
converter applies it with its runtime's own quantizer, calibrated on the same stored
samples: ExecuTorch with the XNNPACK quantizer, TFLite with ai-edge-quantizer on the
float ``.tflite`` (see ``tflite_quant``; dynamic INT8 with litert-torch's PT2E quantizer),
ONNX with ONNX Runtime (see ``onnx_quant``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgepress.artifact import Artifact
from edgepress.compress import calibration

QUANTIZATION_KEY = "quantization"  # report key holding the recipe on a quantized handle
QAT_MODE = "qat"  # a handle whose model was already quantized while training (``quantize.qat``)
# Recurrent ops PT2E quantizers skip as opaque nodes; split into Linear ops first (``_split_recurrent``).
RECURRENT_OPS = frozenset({"lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"})


def recipe_of(source: Artifact) -> dict[str, Any] | None:
    """The quantization recipe recorded on a handle (or carried by its saved ``.pt2``)."""
    recipe = source.report.get(QUANTIZATION_KEY)
    return recipe if isinstance(recipe, dict) and recipe.get("mode") in ("int8_static", "int8_dynamic", "fp16") else None


def qat_recipe_of(source: Artifact) -> dict[str, Any] | None:
    """The record of a quantization-aware-trained handle: its model holds the quantization itself."""
    recipe = source.report.get(QUANTIZATION_KEY)
    return recipe if isinstance(recipe, dict) and recipe.get("mode") == QAT_MODE else None


def carried(source: Artifact) -> dict[str, Any]:
    """Report entries a saved form of ``source`` must keep (the quantization recipe)."""
    recipe = recipe_of(source) or qat_recipe_of(source)
    return {QUANTIZATION_KEY: recipe, "name": source.report.get("name")} if recipe else {}


def xnnpack_program(recipe: dict[str, Any], module: Any, examples: tuple[Any, ...], dynamic_shapes: Any = None) -> Any:
    """A torch.export program quantized with ExecuTorch's XNNPACK quantizer (fp32 I/O)."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    refuse_int16(recipe, "ExecuTorch")
    config = get_symmetric_quantization_config(is_per_channel=recipe.get("per_channel", True), is_dynamic=_dynamic(recipe))
    quantizer = XNNPACKQuantizer().set_global(config)
    quantized = _pt2e(recipe, module, examples, quantizer, fold=True, dynamic_shapes=dynamic_shapes)
    return torch.export.export(quantized, examples, dynamic_shapes=dynamic_shapes)


def litert_module(recipe: dict[str, Any], module: Any, examples: tuple[Any, ...], permute: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(quantized graph module, QuantConfig) for ``litert_torch.convert``; ``permute`` adapts samples to the module's layout."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    config = get_symmetric_quantization_config(is_per_channel=recipe.get("per_channel", True), is_dynamic=_dynamic(recipe))
    quantizer = PT2EQuantizer().set_global(config)
    return _pt2e(recipe, module, examples, quantizer, fold=False, permute=permute), QuantConfig(pt2e_quantizer=quantizer)


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


def litert_qdq_config() -> Any:
    """A litert-torch QuantConfig that lowers a graph's existing Q/DQ pairs to int8 TFLite kernels.

    litert-torch reads only the mode (static) from it; the quantization itself is already
    in the graph. Its own QAT annotator fails on torch 2.13 (it exports a function), so QAT
    trains with ExecuTorch's XNNPACK quantizer, whose int8 scheme is the same.
    """
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    return QuantConfig(pt2e_quantizer=PT2EQuantizer().set_global(get_symmetric_quantization_config()))


def refuse_int16(recipe: dict[str, Any], converter: str) -> None:
    """ExecuTorch's XNNPACK quantizer has no 16-bit activation scheme: say where int16x8 works."""
    from edgepress.errors import ConversionError

    if recipe.get("activations") == "int16":
        raise ConversionError(
            f"int16x8 quantization of a PyTorch model is not supported by {converter}'s PT2E quantizer; "
            "convert it to ONNX (ONNX Runtime QDQ with int16 activations) or TFLite (ai-edge-quantizer int16x8) instead"
        )


def _dynamic(recipe: dict[str, Any]) -> bool:
    return recipe["mode"] == "int8_dynamic"


def _pt2e(
    recipe: dict[str, Any], module: Any, examples: tuple[Any, ...], quantizer: Any, fold: bool, permute: Callable[[Any], Any] = lambda t: t, dynamic_shapes: Any = None
) -> Any:
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    # dynamic dimensions (a sequence length) stay dynamic so samples of any length calibrate
    graph = _split_recurrent(torch.export.export(module, examples, dynamic_shapes=dynamic_shapes)).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in calibration.samples(calibration.load(recipe["calibration_file"]), batch=int(examples[0].shape[0])):
            prepared(*(permute(torch.from_numpy(a)) for a in batch))
    converted = convert_pt2e(prepared, fold_quantize=fold)
    # Exported from an eval-mode module, the graph already holds inference ops; the flag
    # only tells converters so (exported modules refuse .eval()).
    converted.training = False
    return converted


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
