"""Decoder -> TFLite with ``prefill_<N>`` and ``decode`` signatures (litert-torch's Hugging Face exporter), optionally quantized.

litert-torch's ``generative.export_hf`` is LiteRT-LM's own path from a transformers folder:
it writes one ``.tflite`` whose signatures take ``tokens``, ``input_pos``, an additive
``mask`` and the KV cache (``kv_cache_k_N`` / ``kv_cache_v_N``, ``cache_length``
positions) and return the updated cache; ``decode`` returns the logits of its one token.
The exporter reads a safetensors folder, so an in-memory model (or one loaded from GGUF)
is saved to a temporary folder first.

Quantization is ai-edge-quantizer's, with LiteRT's recipes: ``int4`` = 4-bit blockwise
weights with dynamically quantized activations on the fully connected layers (LM head
included) and an 8-bit embedding table; ``int8_dynamic`` = LiteRT's default
``dynamic_wi8_afp32`` (8-bit per-channel weights, int8 compute); ``int8_weight`` = 8-bit
per-channel weights dequantized to float before each layer (weight-only: smaller, not
faster). Weights left in float are listed in the report by the operator reading them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.errors import BadInputError
from edgepress.lm.hf import HFModel, Task, save_float_folder
from edgepress.quantization import Mode, QuantSpec, WeightMethod, record

CACHE_LENGTH = 1024  # positions in the KV cache: prompt + generated tokens (and the longest perplexity window), as in the .pte
PREFILL_LENGTH = 128  # tokens one prefill call takes (a longer prompt is prefilled in chunks)
BLOCKS = (32, 64, 128, 256)  # ai-edge-quantizer's blockwise granularities


def export_tflite(lm: HFModel, out_dir: Path, stem: str, spec: QuantSpec | None = None, cache_length: int = CACHE_LENGTH,
                  prefill_length: int = PREFILL_LENGTH) -> Artifact:
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
    with staging_dir(Path(out_dir)) as tmp:
        plain = _exported(lm, tmp, cache_length, prefill_length)
        staged = tmp / stem
        staged.mkdir()
        path = staged / f"{stem}.tflite"
        facts = quantize_tflite(plain, spec, path) if spec is not None else {}
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
    if spec.weight_method is not WeightMethod.RTN:
        raise BadInputError(f"--method {spec.weight_method.value} is ONNX Runtime's; the TFLite path (ai-edge-quantizer) rounds to nearest: use --method rtn with tflite")
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


def quantize_tflite(source: Path, spec: QuantSpec, path: Path) -> dict[str, Any]:
    """Quantize ``source`` into ``path`` with ai-edge-quantizer; returns what was done and which weights stayed float."""
    from importlib.metadata import version

    from ai_edge_quantizer import quantizer

    from edgepress.converters.coverage import tflite_coverage

    run = quantizer.Quantizer(str(source))
    run.load_quantization_recipe(recipe_of(spec))
    with _quiet():
        run.quantize().export_model(str(path), overwrite=True)
    coverage = tflite_coverage(path)
    left = [{"operator": op, "weights": count, "reason": "ai-edge-quantizer's recipe has no rule for this operator"}
            for op, count in sorted(coverage.float_by_op.items())]
    head = {"lm_head": "decode_logits_output", "lm_head_bits": 8} if spec.mode is Mode.INT4 else {}
    return {"quantizer": f"ai-edge-quantizer {version('ai-edge-quantizer')} ({_recipe_name(spec)})", **head,
            "quantized_weight_fraction": round(coverage.fraction, 4), "embedding_bits": 8, "float_layers": left}


def recipe_of(spec: QuantSpec) -> Any:
    """The ai-edge-quantizer recipe of a language-model mode (LiteRT's LLM recipes)."""
    from ai_edge_quantizer import qtyping, recipe_manager

    fc, embedding = qtyping.TFLOperationName.FULLY_CONNECTED, qtyping.TFLOperationName.EMBEDDING_LOOKUP
    manager = recipe_manager.RecipeManager()
    if spec.mode is Mode.INT4:
        block = qtyping.QuantGranularity(f"BLOCKWISE_{spec.group_size}")
        manager.add_dynamic_config(regex=".*", operation_name=fc, num_bits=4, granularity=block)
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
        return f"4-bit weights in blocks of {spec.group_size} with dynamic int8 activations, 8-bit embedding"
    if spec.mode is Mode.INT8_DYNAMIC:
        return "dynamic_wi8_afp32: 8-bit per-channel weights, dynamic int8 activations"
    return "weight_only_wi8_afp32: 8-bit per-channel weights, float compute"


def _converter() -> str:
    from importlib.metadata import version

    return f"litert-torch {version('litert-torch')} generative export_hf (prefill and decode signatures)"
