"""Decoder -> ExecuTorch ``.pte``: a static KV cache inside the program, lowered to XNNPACK, optionally torchao-quantized.

transformers' ``TorchExportableModuleWithStaticCache`` holds the cache as mutable buffers
(what ExecuTorch's LLM runner expects: ``forward(input_ids, cache_position) -> logits``);
``torch.export`` (strict, as transformers exports it) with a dynamic sequence length
serves prefill and decode from one method. The cache holds ``max_length`` positions: a
prompt plus generated tokens beyond it is refused by the runner. Attention is ExecuTorch's
own LLM kernels by default (``edgepress.lm.custom_sdpa``: ``llama::custom_sdpa`` over a cache
written by ``llama::update_cache``, as ExecuTorch's Llama export does; the runtime needs its
``custom_ops`` library); ``attention="portable"`` exports plain ATen ops that any ExecuTorch
runtime runs (``edgepress.lm.grouped_attention``: one additive mask, K/V read as stored).
With transformers' own attention the mask making and K/V copies ran on portable kernels in
every layer.

Quantization is ExecuTorch's LLM quantizer (torchao underneath), before export: ``int4`` =
8-bit dynamic activations with 4-bit weights in groups (``8da4w``, XNNPACK's kernels),
``int8_weight`` = 8-bit weights per group (``8w``), ``int8_dynamic`` = 8-bit dynamic
activations with 8-bit per-channel weights (``8da8w``). The LM head is ``8da8w`` in every
mode, as the ONNX path keeps it at 8 bits. In ``int4`` the attention's key, value and output
projections and the MLP's down projection are ``8da8w`` too (``edgepress.lm.mixed_precision``, as
llama.cpp's Q4_K_M keeps such layers at more bits): XNNPACK's 4-bit kernels round every
activation to 8 bits per token as well, and the two roundings together cost more than the
4-bit weights alone. ``--method gptq`` rounds the 4-bit weights with
``edgepress.lm.gptq`` on XNNPACK's symmetric grid and writes its codes and scales into
torchao's quantized weights. The token embedding becomes an int8
table with one scale per row (``int8_embedding``), looked up with plain ATen ops: the pip
runtime has no kernel for ExecuTorch's own quantized embedding (``embedding_byte``), and a
float table is a fifth of SmolLM2's weights (49152 x 576 floats, 113 MB). Other
embeddings (positions, token types) stay float and are listed. A linear layer whose input width the group size
does not divide gets the largest smaller group that does (``fit_groups``; listed as
``narrower_group_layers``): left in float, such layers are the trap that leaves a model several
times larger than expected (SmolLM2's 576-wide layers at group 128). One no group from 16 up
divides stays float, listed with that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.lm.hf import HFModel, Task
from edgepress.lm.mixed_precision import body_linears, eight_bit_layers, fit_groups, head_name
from edgepress.quantization import Mode, QuantSpec, WeightMethod, record

if TYPE_CHECKING:
    from edgepress.lm.onnx_weights import Calibration

MAX_LENGTH = 1024  # positions in the static cache: prompt + generated tokens (and the longest perplexity window)
# attention= choices, and what the report says of each
ATTENTIONS = {
    "custom_sdpa": {"attention": "ExecuTorch's llama::custom_sdpa over a [batch, position, head, dim] cache written by llama::update_cache (edgepress.lm.custom_sdpa)",
                    "kernels": "ExecuTorch LLM custom ops (llama::custom_sdpa, llama::update_cache): the runtime must have custom_ops linked or loaded"},
    "portable": {"attention": "grouped-query, additive mask, plain ATen ops (edgepress.lm.grouped_attention)"},
}


def export_pte(lm: HFModel, out_dir: Path, stem: str, spec: QuantSpec | None = None, max_length: int = MAX_LENGTH,
               calibration: Calibration | None = None, attention: str = "custom_sdpa") -> Artifact:
    """Write ``out_dir/<stem>/<stem>.pte`` with the tokenizer and configs beside it (atomically).

    Example:
        >>> art = export_pte(from_hf("SmolLM2", gguf_file="m.gguf"), Path("out"), "smollm2_int4", QuantSpec(Mode.INT4))
        >>> art.report["quantization"]["float_layers"]
        []
    """
    import copy

    from edgepress.errors import BadInputError, unknown_name
    from edgepress.lm.custom_sdpa import use_custom_sdpa
    from edgepress.lm.grouped_attention import use_grouped_attention
    from edgepress.lm.onnx_export import publish_folder, remember, save_companions
    from edgepress.storage import staging_dir

    if attention not in ATTENTIONS:
        raise unknown_name("attention", attention, ATTENTIONS)
    if lm.task is not Task.TEXT_GENERATION:
        raise BadInputError("export_pte exports decoders; an encoder goes through edgepress.lm.encoder_export.export_encoder (convert_lm chooses it)")
    model = copy.deepcopy(lm.model)  # quantization, the attention and the static-cache setting change the model in place
    facts = quantize_torch(model, spec, calibration) if spec is not None else {}  # GPTQ runs the model: before its attention reads the export's cache
    (use_custom_sdpa if attention == "custom_sdpa" else use_grouped_attention)(model)  # "portable": any ExecuTorch runtime runs it
    with staging_dir(Path(out_dir)) as tmp:
        staged = tmp / stem
        staged.mkdir()
        (staged / f"{stem}.pte").write_bytes(_lowered(model, max_length, attention == "custom_sdpa"))
        save_companions(lm, staged)
        final = publish_folder(staged, Path(out_dir))
    path = final / f"{stem}.pte"
    sides = sorted(p for p in final.iterdir() if p != path and p.is_file())
    spec_in = InputSpec((TensorSpec("input_ids", (1, "sequence"), "int64"), TensorSpec("cache_position", ("sequence",), "int64")))
    report = {"task": Task.TEXT_GENERATION.value, "converter": _converter(), "max_length": max_length, **ATTENTIONS[attention], **record(spec, facts)}
    lineage = ("convert.executorch",) + ((f"quantize.{spec.mode.value}",) if spec else ())
    return remember(Artifact.from_file(path, Format.EXECUTORCH, spec_in, lineage=lineage, side_files=sides, report=report, quant=spec))


# edgepress mode -> ExecuTorch's LLM linear config (extension.llm.export.quantize)
LINEAR_CONFIGS = {Mode.INT4: "8da4w", Mode.INT8_WEIGHT: "8w", Mode.INT8_DYNAMIC: "8da8w"}


HEAD_CONFIG = "8da8w"  # one scale per output row: at 4 bits SmolLM2's head alone took its perplexity from 20.6 to 24.9 (eager, 2048 tokens)


def quantize_torch(model: Any, spec: QuantSpec, calibration: Calibration | None = None) -> dict[str, Any]:
    """ExecuTorch's LLM quantization (torchao underneath) in place; returns what was quantized and what was left float."""
    import torch

    from edgepress.errors import BadInputError

    group = 0 if spec.mode is Mode.INT8_DYNAMIC else spec.group_size  # 0: one scale per output channel
    _untie(model)
    head, linears = head_name(model), body_linears(model)
    eight = eight_bit_layers(linears) if spec.mode is Mode.INT4 else []
    rest = {name: m for name, m in linears.items() if name not in eight}
    fitted = fit_groups(rest, group)  # group 0 (per channel) fits every width
    left = [{"layer": name, "shape": [rest[name].out_features, rest[name].in_features],
             "reason": f"input width {rest[name].in_features} is a multiple of no group size up to {group}"} for name in fitted.unfitted]
    narrower, body = fitted.narrower, fitted.fitted
    extra: dict[str, Any] = {}
    codes: dict[str, Any] = {}
    if spec.weight_method is WeightMethod.GPTQ:
        from edgepress.lm.gptq import gptq_linears

        if calibration is None:
            raise BadInputError("--method gptq needs calibration text (quantize_lm gives it; export_pte needs calibration=)")
        codes = gptq_linears(model, calibration.windows, body)  # Hessians from the float model
        extra = {"calibration": calibration.describe()}
    config = LINEAR_CONFIGS[spec.mode]
    apart = {name: (HEAD_CONFIG, 0) for name in ([head, *eight] if head else eight)} | {f["layer"]: (config, f["group_size"]) for f in narrower}
    _quantize_linears(model, config, group, apart)
    for name, found in codes.items():
        _write_codes(model.get_submodule(name).weight, found)
    embedding = int8_embedding(model)
    left += [{"layer": name, "shape": list(m.weight.shape), "reason": "a position or token-type table: small, kept float"}
             for name, m in model.named_modules() if isinstance(m, torch.nn.Embedding)]
    return {"quantizer": f"executorch.extension.llm quantize_model_ ({LINEAR_CONFIGS[spec.mode]}), torchao {_version('torchao')}",
            "quantized_linears": len(body) + len(eight), "float_layers": left, "narrower_group_layers": narrower, "lm_head": head, "lm_head_config": HEAD_CONFIG if head else None,
            "lm_head_bits": 8 if head else None, "eight_bit_layers": eight, "eight_bit_config": HEAD_CONFIG if eight else None,
            "embedding": embedding, "embedding_bits": 8 if embedding else None, **extra}


def _quantize_linears(model: Any, config: str, group: int, apart: dict[str, tuple[str, int]]) -> None:
    """Every linear layer with ``config`` at ``group``, but the ones in ``apart``, which get their own (config, group).

    ExecuTorch's ``quantize_model_`` takes no layer filter, so those layers are lifted out of
    the model while the rest is quantized, then quantized in sets that share a setting and put back.
    """
    import torch
    from executorch.extension.llm.export.quantize import quantize_model_

    lifted = {name: model.get_submodule(name) for name in apart}
    with _quiet_prints():
        for name in lifted:
            model.set_submodule(name, torch.nn.Identity())
        try:
            quantize_model_(model, qlinear_config=config, qlinear_group_size=group, skip_incompatible_shapes=True)
        finally:
            for name, layer in lifted.items():
                model.set_submodule(name, layer)
        for setting in sorted(set(apart.values())):
            layers = [layer for name, layer in lifted.items() if apart[name] == setting]
            quantize_model_(torch.nn.ModuleDict({str(i): layer for i, layer in enumerate(layers)}), qlinear_config=setting[0], qlinear_group_size=setting[1])


def _write_codes(weight: Any, found: Any) -> None:
    """GPTQ's codes and scales (``gptq.Codes`` [in, out], zero point 8) into torchao's ``IntxUnpackedToInt8Tensor`` [out, in], int4 as -8..7."""
    import numpy as np
    import torch

    signed = found.codes.T.astype(np.int16) - 8
    if tuple(weight.qdata.shape) != signed.shape or tuple(weight.scale.shape) != found.scales.T.shape or torch.any(weight.zero_point != 0):
        raise RuntimeError(f"torchao's 4-bit weight layout changed (qdata {tuple(weight.qdata.shape)}, scale {tuple(weight.scale.shape)}); "
                           "edgepress writes GPTQ codes for torchao 0.18's symmetric IntxUnpackedToInt8Tensor")
    weight.qdata.copy_(torch.from_numpy(signed).to(torch.int8))
    weight.scale.copy_(torch.from_numpy(found.scales.T).to(weight.scale.dtype))


def int8_embedding(model: Any) -> str | None:
    """Swap ``model``'s token embedding for an int8 one in place; its module name (None: no plain embedding).

    Symmetric int8, one scale per row (per token), as the ONNX path stores it
    (``onnx_weights.int8_embedding``): the rows are gathered in int8 and scaled to float
    after the lookup, so the table stays a quarter of its float size in the ``.pte``.
    """
    import torch

    table = model.get_input_embeddings()
    if type(table) is not torch.nn.Embedding:
        return None
    name = next(n for n, m in model.named_modules() if m is table)
    model.set_input_embeddings(_int8_embedding_module()(table.weight.detach()))
    return name


def _int8_embedding_module() -> type:
    import torch

    class Int8Embedding(torch.nn.Module):
        """An embedding table in int8 with a float scale per row; a lookup gathers both and multiplies."""

        def __init__(self, weight: torch.Tensor) -> None:
            super().__init__()
            scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=torch.finfo(weight.dtype).tiny) / 127.0
            self.register_buffer("table", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
            self.register_buffer("scale", scale)
            self.embedding_dim = weight.shape[1]

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            rows = torch.nn.functional.embedding(ids, self.table)
            return rows.to(self.scale.dtype) * torch.nn.functional.embedding(ids, self.scale)

    return Int8Embedding


def _quiet_prints() -> Any:
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())  # it prints what it applies; the report says it instead


def _untie(model: Any) -> None:
    """Give a tied LM head its own weight, so quantizing the embedding table leaves the head to its own config."""
    import torch

    head, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    if head is not None and embedding is not None and head.weight is embedding.weight:
        head.weight = torch.nn.Parameter(embedding.weight.detach().clone())


def _lowered(model: Any, max_length: int, custom_cache: bool = False) -> bytes:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.exir.capture._config import ExecutorchBackendConfig
    from executorch.exir.passes import MemoryPlanningPass
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass
    from torch.export import Dim
    from transformers.integrations.executorch import TorchExportableModuleWithStaticCache

    from edgepress.converters.common import quiet_exporter

    model.generation_config.cache_implementation = "static"
    wrapped = TorchExportableModuleWithStaticCache(model, batch_size=1, max_cache_len=max_length).eval()
    if custom_cache:
        from edgepress.lm.custom_sdpa import sequence_first_cache

        sequence_first_cache(wrapped)
    sequence = Dim("sequence", min=1, max=max_length - 1)
    ids, positions = torch.ones((1, 4), dtype=torch.long), torch.arange(4)
    with quiet_exporter(), torch.no_grad():
        # strict, as transformers exports it: the non-strict trace fails in run_decompositions on the cache buffers
        program = torch.export.export(wrapped, args=(), kwargs={"input_ids": ids, "cache_position": positions},
                                      dynamic_shapes={"input_ids": {1: sequence}, "cache_position": {0: sequence}}, strict=True)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        # as ExecuTorch's LLM exporter lowers: quantized embeddings fused into embedding_byte, shapes bounded by the cache
        config = ExecutorchBackendConfig(do_quant_fusion_and_const_prop=True, sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass(),
                                         memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False))
        return edge.to_executorch(config).buffer


def _converter() -> str:
    return f"torch.export + ExecuTorch {_version('executorch')} XNNPACK (transformers static cache)"


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
