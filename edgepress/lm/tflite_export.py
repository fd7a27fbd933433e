"""Decoder -> TFLite with ``prefill_<N>`` and ``decode`` signatures (litert-torch's Hugging Face exporter), optionally quantized.

litert-torch's ``generative.export_hf`` is LiteRT-LM's own path from a transformers folder:
it writes one ``.tflite`` whose signatures take ``tokens``, ``input_pos``, an additive
``mask`` and the KV cache (``kv_cache_k_N`` / ``kv_cache_v_N``, ``cache_length``
positions) and return the updated cache; ``decode`` returns the logits of its one token.
The exporter reads a safetensors folder, so an in-memory model (or one loaded from GGUF)
is saved to a temporary folder first.

Quantization is ai-edge-quantizer's, with LiteRT's recipes: ``int4`` = 4-bit blockwise
weights with dynamically quantized activations on the fully connected layers, an 8-bit LM
head and embedding table, and the attention's key, value and output projections and the
MLP's down projection at 8 bits (``edgepress.lm.mixed_precision``: XNNPACK rounds the
activations of 4-bit layers to 8 bits as well); ``int8_dynamic`` = LiteRT's default
``dynamic_wi8_afp32`` (8-bit per-channel weights, int8 compute); ``int8_weight`` = 8-bit
per-channel weights dequantized to float before each layer (weight-only: smaller, not
faster). Weights left in float are listed in the report by the operator reading them.

``--method gptq`` (``int4``): ``edgepress.lm.gptq`` rounds the 4-bit layers of the PyTorch
model on LiteRT's grid (int4 -8..7 times a bfloat16 scale per block), the rounded weights are
exported in float, and ai-edge-quantizer's ``dequantized_weight_recovery`` reads the codes
and scales back from them (the path it has for QAT checkpoints). Its own GPTQ calibrates by
running the ``.tflite`` and rounds columns in plain order with min-max ranges: on SmolLM2
the order and the range search of edgepress's GPTQ took group 128 from +28.6% to +9.0%.
Each layer's precision is given to the graph's fully connected operators that hold its
weights, found by their bytes (``layer_scopes``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.errors import BadInputError, ConversionError
from edgepress.lm.hf import HFModel, Task, save_float_folder
from edgepress.lm.mixed_precision import body_linears, eight_bit_layers, fit_groups
from edgepress.quantization import Mode, QuantSpec, WeightMethod, record

if TYPE_CHECKING:
    from edgepress.lm.onnx_weights import Calibration

CACHE_LENGTH = 1024  # positions in the KV cache: prompt + generated tokens (and the longest perplexity window), as in the .pte
PREFILL_LENGTH = 128  # tokens one prefill call takes (a longer prompt is prefilled in chunks)
BLOCKS = (32, 64, 128, 256)  # ai-edge-quantizer's blockwise granularities


def export_tflite(lm: HFModel, out_dir: Path, stem: str, spec: QuantSpec | None = None, cache_length: int = CACHE_LENGTH,
                  prefill_length: int = PREFILL_LENGTH, calibration: Calibration | None = None) -> Artifact:
    """Write ``out_dir/<stem>/<stem>.tflite`` with the tokenizer and configs beside it (atomically).

    Example:
        >>> art = export_tflite(from_hf("SmolLM2", gguf_file="m.gguf"), Path("out"), "smollm2_int4_tflite", QuantSpec(Mode.INT4))
        >>> art.report["max_length"]
        1024
    """
    from edgepress.converters.tflite import strip_debug_names
    from edgepress.lm.onnx_export import publish_folder, remember, save_companions
    from edgepress.storage import staging_dir

    if lm.task is not Task.TEXT_GENERATION:
        raise BadInputError("export_tflite exports decoders; an encoder goes through edgepress.lm.encoder_export.export_encoder (convert_lm chooses it)")
    if spec is not None:
        check_tflite_spec(spec)
    plan = LayerPlan.of(lm.model, spec) if spec is not None else LayerPlan()
    source, rounded = (lm, {}) if spec is None or spec.weight_method is not WeightMethod.GPTQ else _gptq_rounded(lm, plan, calibration)
    with staging_dir(Path(out_dir)) as tmp:
        plain = _exported(source, tmp, cache_length, prefill_length)
        staged = tmp / stem
        staged.mkdir()
        path = staged / f"{stem}.tflite"
        facts = {**quantize_tflite(plain, spec, path, plan, source.model), **rounded} if spec is not None else {}
        if spec is None:
            plain.rename(path)
        stripped = strip_debug_names(path)  # after quantization: the recipe's rules match these names
        save_companions(lm, staged)
        final = publish_folder(staged, Path(out_dir))
    path = final / path.name
    sides = sorted(p for p in final.iterdir() if p != path and p.is_file())
    spec_in = InputSpec((TensorSpec("tokens", (1, "sequence"), "int32"), TensorSpec("input_pos", ("sequence",), "int32")))
    report = {"task": Task.TEXT_GENERATION.value, "converter": _converter(), "max_length": cache_length, "prefill_length": prefill_length,
              "debug_names_stripped_bytes": stripped, **record(spec, facts)}
    lineage = ("convert.tflite",) + ((f"quantize.{spec.mode.value}",) if spec else ())
    return remember(Artifact.from_file(path, Format.TFLITE, spec_in, lineage=lineage, side_files=sides, report=report, quant=spec))


def check_tflite_spec(spec: QuantSpec) -> None:
    """Refuse what ai-edge-quantizer's recipes cannot express, before any export."""
    if spec.weight_method is WeightMethod.HQQ:
        raise BadInputError("--method hqq is ONNX Runtime's (float zero points); the TFLite path takes --method rtn or gptq")
    if spec.mode is Mode.INT4 and spec.group_size not in BLOCKS:
        raise BadInputError(f"--group-size {spec.group_size} is not a block size ai-edge-quantizer takes ({', '.join(map(str, BLOCKS))}) for tflite")


def _exported(lm: HFModel, work: Path, cache_length: int, prefill_length: int) -> Path:
    """The float ``.tflite`` litert-torch's exporter writes for ``lm`` (inside ``work``)."""
    import contextlib
    import io

    source = work / "hf"
    save_float_folder(lm, source)
    output = work / "litert"
    with _quiet(), contextlib.redirect_stderr(io.StringIO()):
        # imported here: transformers prints "[ERROR] ... not documented" lines to stdout while litert-torch's model modules load
        from litert_torch.generative.export_hf import export as litert_export

        litert_export.export(model=str(source), output_dir=str(output), task="text_generation", prefill_lengths=[prefill_length],
                             cache_length=cache_length, bundle_litert_lm=False, quantization_recipe="none", keep_temporary_files=True)
    found = sorted(output.rglob("model.tflite"))
    if len(found) != 1:
        raise RuntimeError(f"litert-torch's exporter wrote {len(found)} model.tflite files in {output}; expected one")
    return found[0]


def _quiet() -> Any:
    from edgepress.converters.common import quiet_exporter

    return quiet_exporter()  # the exporter prints a config summary and progress lines


@dataclass(frozen=True)
class LayerPlan:
    """How an INT4 decoder's linear layers (by module name) split between 8 bits and 4 bits, and the block size of each 4-bit one."""

    eight_bit: tuple[str, ...] = ()  # module names
    groups: dict[str, int] = field(default_factory=dict)  # 4-bit module name -> block size
    narrower: tuple[dict[str, Any], ...] = ()  # what the report lists: layers given a smaller block, or 8 bits for want of one

    @staticmethod
    def of(model: Any, spec: QuantSpec) -> LayerPlan:
        if spec.mode is not Mode.INT4:
            return LayerPlan()
        linears = body_linears(model)
        eight = eight_bit_layers(linears)
        fitted = fit_groups({name: m for name, m in linears.items() if name not in eight}, spec.group_size, smallest=min(BLOCKS))
        no_block = [{"layer": name, "group_size": 0, "reason": f"input width {linears[name].in_features} is a multiple of no block size from "
                     f"{min(BLOCKS)} to {spec.group_size}: 8-bit, a scale per row"} for name in fitted.unfitted]
        return LayerPlan(tuple(sorted(eight + fitted.unfitted)), fitted.fitted, tuple(fitted.narrower + no_block))

    def setting(self, name: str | None) -> tuple[int, int] | None:
        """(bits, block) of the module ``name`` (block 0: a scale per row); None: not a body layer of the plan."""
        if name in self.eight_bit:
            return (8, 0)
        return (4, self.groups[name]) if name in self.groups else None


def layer_scopes(path: Path, model: Any) -> dict[str, str]:
    """The recipe scope of each fully connected operator of the float ``.tflite`` that computes a body linear layer of ``model``: its module name.

    Found by the weight's bytes, which litert-torch exports as they are. Output names are no
    guide: they are fused from the modules involved, in no fixed order (k's output in the
    prefill signature names q's module first, in decode last), and the up projection's
    weight is named after the gate projection.
    """
    import hashlib

    import numpy as np
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfl

    def digest(data: Any) -> bytes:
        return hashlib.sha1(np.ascontiguousarray(data).tobytes()).digest()

    by_bytes = {digest(m.weight.detach().float().numpy()): name for name, m in body_linears(model).items()}
    flat = tfl.read_model(str(path))
    fc = tfl.TFL_OP_NAME_TO_CODE[qtyping.TFLOperationName.FULLY_CONNECTED]
    scopes = {}
    for graph in flat.subgraphs:
        for op in graph.operators:
            data = flat.buffers[graph.tensors[op.inputs[1]].buffer].data if flat.operatorCodes[op.opcodeIndex].builtinCode == fc else None
            name = by_bytes.get(digest(data)) if data is not None and len(data) else None  # None: the tied head, or weights stored outside
            if name is not None:
                scopes[tfl.get_op_scope(op, graph.tensors)] = name
    return scopes


def _gptq_rounded(lm: HFModel, plan: LayerPlan, calibration: Calibration | None) -> tuple[HFModel, dict[str, Any]]:
    """A copy of ``lm`` whose 4-bit layers hold GPTQ's rounded weights (codes x bfloat16 scales, in float), and what the report says of it."""
    import copy

    import torch

    from edgepress.lm.gptq import gptq_linears

    if calibration is None:
        raise BadInputError("--method gptq needs calibration text (quantize_lm gives it; export_tflite needs calibration=)")
    model = copy.deepcopy(lm.model)
    codes = gptq_linears(model, calibration.windows, plan.groups, bf16_scales=True)  # Hessians from the float model
    with torch.no_grad():
        for name, found in codes.items():
            weight = model.get_submodule(name).weight
            weight.copy_(torch.from_numpy(found.dequantized().T).to(weight.dtype))
    return HFModel(model, lm.tokenizer, lm.task, lm.name), {"calibration": calibration.describe(), "gptq_layers": len(codes)}


def quantize_tflite(source: Path, spec: QuantSpec, path: Path, plan: LayerPlan | None = None, model: Any = None) -> dict[str, Any]:
    """Quantize ``source`` into ``path`` with ai-edge-quantizer; returns what was done and which weights stayed float.

    ``plan`` splits the layers of ``model`` (the PyTorch model ``source`` was exported from) between precisions.
    """
    from importlib.metadata import version

    from ai_edge_quantizer import quantizer

    from edgepress.converters.coverage import tflite_coverage

    plan = plan or LayerPlan()
    scopes = layer_scopes(source, model) if model is not None and (plan.groups or plan.eight_bit) else {}
    unplaced = sorted((set(plan.groups) | set(plan.eight_bit)) - set(scopes.values()))
    if unplaced:  # their precision (and GPTQ's codes) would silently fall to the catch-all rule
        raise ConversionError(f"litert-torch's graph has no fully connected operator holding the weights of {len(unplaced)} layers "
                              f"({', '.join(unplaced[:2])}, ...); edgepress places each layer's precision by its weights. Quantize with --to onnx, "
                              "or report the model")
    run = quantizer.Quantizer(str(source))
    run.load_quantization_recipe(recipe_of(spec, {scope: plan.setting(name) for scope, name in scopes.items()}))
    with _quiet():
        run.quantize().export_model(str(path), overwrite=True)
    coverage = tflite_coverage(path)
    left = [{"operator": op, "weights": count, "reason": "ai-edge-quantizer's recipe has no rule for this operator"}
            for op, count in sorted(coverage.float_by_op.items())]
    head = {"lm_head": "decode_logits_output", "lm_head_bits": 8, "eight_bit_layers": list(plan.eight_bit),
            "narrower_group_layers": list(plan.narrower)} if spec.mode is Mode.INT4 else {}
    return {"quantizer": f"ai-edge-quantizer {version('ai-edge-quantizer')} ({_recipe_name(spec)})", **head,
            "quantized_weight_fraction": round(coverage.fraction, 4), "embedding_bits": 8, "float_layers": left}


def recipe_of(spec: QuantSpec, settings: dict[str, tuple[int, int] | None] | None = None) -> Any:
    """The ai-edge-quantizer recipe of a language-model mode (LiteRT's LLM recipes); in ``int4``, ``settings`` gives operators (by scope) their (bits, block).

    Later rules win where regexes overlap: the catch-all first, the head's rule last. The 4-bit
    weights GPTQ rounded are read back from the exported weights, not rounded again.
    """
    from ai_edge_quantizer import qtyping, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    fc, embedding = qtyping.TFLOperationName.FULLY_CONNECTED, qtyping.TFLOperationName.EMBEDDING_LOOKUP
    manager = recipe_manager.RecipeManager()
    if spec.mode is Mode.INT4:
        manager.add_dynamic_config(regex=".*", operation_name=fc, num_bits=4, granularity=qtyping.QuantGranularity(f"BLOCKWISE_{spec.group_size}"))
        by_setting: dict[tuple[int, int], list[str]] = {}
        for scope, setting in (settings or {}).items():
            if setting is not None:
                by_setting.setdefault(setting, []).append(scope)
        for (bits, block), scopes in sorted(by_setting.items()):
            regex = "^(?:" + "|".join(re.escape(scope) for scope in sorted(scopes)) + ")$"
            blocks = qtyping.QuantGranularity(f"BLOCKWISE_{block}") if bits == 4 else None
            if bits == 8:
                manager.add_dynamic_config(regex=regex, operation_name=fc, num_bits=8)
            elif spec.weight_method is WeightMethod.GPTQ:
                weights = qtyping.TensorQuantizationConfig(num_bits=4, symmetric=True, granularity=blocks)
                manager.add_quantization_config(regex, fc, qtyping.OpQuantizationConfig(
                    weight_tensor_config=weights, compute_precision=qtyping.ComputePrecision.INTEGER, explicit_dequantize=False),
                    algorithm_key=AlgorithmName.DEQUANTIZED_WEIGHT_RECOVERY)
            else:
                manager.add_dynamic_config(regex=regex, operation_name=fc, num_bits=4, granularity=blocks)
        # the LM head and the embedding 8-bit, as on ONNX; a tied table then has one quantization for all its readers
        manager.add_dynamic_config(regex=".*logits.*", operation_name=fc, num_bits=8)  # litert-torch names the head "decode_logits_output"
        manager.add_dynamic_config(regex=".*", operation_name=embedding, num_bits=8)
    elif spec.mode is Mode.INT8_DYNAMIC:
        manager.add_dynamic_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=8)
    else:
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=8)
    return manager.get_quantization_recipe()


def _recipe_name(spec: QuantSpec) -> str:
    if spec.mode is Mode.INT4:
        how = "GPTQ-rounded, read back by dequantized_weight_recovery" if spec.weight_method is WeightMethod.GPTQ else "rounded to nearest"
        return f"4-bit weights in blocks of {spec.group_size} ({how}) with dynamic int8 activations, 8-bit k/v/o/down projections, head and embedding"
    if spec.mode is Mode.INT8_DYNAMIC:
        return "dynamic_wi8_afp32: 8-bit per-channel weights, dynamic int8 activations"
    return "weight_only_wi8_afp32: 8-bit per-channel weights, float compute"


def _converter() -> str:
    from importlib.metadata import version

    return f"litert-torch {version('litert-torch')} generative export_hf (prefill and decode signatures)"
