"""``convert_lm`` and ``quantize_lm``: the language-model paths of ``edgepress convert`` and ``edgepress quantize``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError
from edgepress.lm.hf import HFModel, Task
from edgepress.quantization import Mode, QuantSpec, WeightMethod

LM_MODES = (Mode.INT4, Mode.INT8_WEIGHT, Mode.INT8_DYNAMIC)
MADE = (Format.ONNX, Format.EXECUTORCH, Format.TFLITE)


def check_formats(formats: Sequence[str]) -> list[Format]:
    """The formats a language model converts to here; anything else is refused before any work."""
    chosen = [Format.parse(name) for name in formats]
    for fmt in chosen:
        if fmt not in MADE:
            from edgepress.lm.routes import NOT_MADE

            why = f": {NOT_MADE[fmt]}" if fmt in NOT_MADE else ""
            raise BadInputError(f"a Hugging Face language model converts to onnx, executorch or tflite, not {fmt.value}{why}")
    if not chosen:
        raise BadInputError("--to names no format; give onnx, executorch, tflite or several")
    return chosen


def convert_lm(lm: HFModel, formats: Sequence[str] = ("onnx",), out_dir: str | Path = "out") -> list[Artifact]:
    """Export a language model to each format (ONNX: a folder with the graph, its weights and the tokenizer).

    Example:
        >>> [a.path.name for a in convert_lm(from_hf("SmolLM2", gguf_file="m.gguf"), ["onnx"], "out")]
        ['SmolLM2.onnx']
    """
    from edgepress.lm.onnx_export import export_onnx, safe_stem

    made = []
    for fmt in check_formats(formats):
        made.append(export_onnx(lm, Path(out_dir)) if fmt is Format.ONNX else _export_static(lm, fmt, Path(out_dir), safe_stem(lm.name)))
    return made


def _export_static(lm: HFModel, fmt: Format, out_dir: Path, stem: str, spec: QuantSpec | None = None, calibration: Any = None) -> Artifact:
    """A fixed-cache decoder or an encoder: ``<stem>_pte/`` (ExecuTorch) or ``<stem>_tflite/`` (LiteRT)."""
    if lm.task is Task.FEATURE_EXTRACTION:
        from edgepress.lm.encoder_export import export_encoder

        return export_encoder(lm, fmt, out_dir, f"{stem}_{'pte' if fmt is Format.EXECUTORCH else 'tflite'}", spec)
    if fmt is Format.EXECUTORCH:
        from edgepress.lm.executorch_export import export_pte

        return export_pte(lm, out_dir, f"{stem}_pte", spec, calibration=calibration)
    from edgepress.lm.tflite_export import export_tflite

    return export_tflite(lm, out_dir, f"{stem}_tflite", spec, calibration=calibration)


def quantize_lm(lm: HFModel, mode: str | Mode = Mode.INT4, group_size: int = 32, method: str | WeightMethod = WeightMethod.RTN,
                formats: Sequence[str] = ("onnx",), out_dir: str | Path = "out", text: str | None = None) -> list[Artifact]:
    """Weight-only INT4 / INT8 or dynamic INT8 of a language model, written as ``OUT/<name>_<mode>/``.

    The FP32 export it starts from is made in a temporary folder and not kept. ``method="gptq"``
    calibrates on the end of ``text`` (default: Python's documentation topics, whose opening
    tokens are what ``bench_lm`` scores).

    Example:
        >>> art = quantize_lm(from_hf("SmolLM2", gguf_file="m.gguf"), "int4", group_size=32, out_dir="out")[0]
        >>> art.quant.mode.value
        'int4'
    """
    from edgepress.lm.onnx_export import export_onnx, safe_stem
    from edgepress.lm.onnx_weights import check_widths, quantize_onnx
    from edgepress.storage import staging_dir

    spec = spec_of(mode, group_size, method)
    chosen = check_formats(formats)
    if Format.TFLITE in chosen:
        from edgepress.lm.tflite_export import check_tflite_spec

        check_tflite_spec(spec)
    if Format.EXECUTORCH in chosen and spec.mode is Mode.INT8_WEIGHT:
        raise BadInputError("--mode int8_weight does not make a working .pte here (ExecuTorch 1.5's 8-bit weight-only lowering gave garbage "
                            "logits on the test model); use --mode int8_dynamic or int4 for executorch, or int8_weight for onnx")
    if Format.EXECUTORCH in chosen and spec.weight_method is WeightMethod.HQQ:
        raise BadInputError("--method hqq is ONNX Runtime's; the ExecuTorch path takes --method rtn (torchao) or gptq")
    if text is not None and spec.weight_method is not WeightMethod.GPTQ:
        raise BadInputError(f"calibration text is for --method gptq; {spec.weight_method.value} uses no data")
    check_widths(linear_widths(lm), spec)  # before the export: a bad --group-size costs nothing
    calibration = gptq_calibration(lm, text) if spec.weight_method is WeightMethod.GPTQ else None
    stem = f"{safe_stem(lm.name)}_{spec.mode.value}"
    made = []
    if Format.ONNX in chosen:
        with staging_dir(Path(out_dir)) as tmp:
            made.append(quantize_onnx(export_onnx(lm, tmp), spec, Path(out_dir), stem, calibration))
    made += [_export_static(lm, fmt, Path(out_dir), stem, spec, calibration) for fmt in chosen if fmt is not Format.ONNX]
    return made


def gptq_calibration(lm: HFModel, text: str | None = None) -> Any:
    """GPTQ's calibration windows: the end of ``text`` (default: Python's documentation topics), tokenized for ``lm``."""
    from edgepress.lm.onnx_weights import Calibration
    from edgepress.lm.text import DEFAULT_TEXT, calibration_windows

    return Calibration(calibration_windows(lm.tokenizer, text), f"the end of {DEFAULT_TEXT if text is None else 'the given text'}")


def linear_widths(lm: HFModel) -> set[int]:
    """Input widths of the model's linear layers (what a weight-only group must divide)."""
    import torch

    return {m.in_features for m in lm.model.modules() if isinstance(m, torch.nn.Linear)}


def spec_of(mode: str | Mode, group_size: int, method: str | WeightMethod) -> QuantSpec:
    """The QuantSpec of a language-model mode, refusing modes and methods that do not apply."""
    from edgepress.errors import unknown_name
    from edgepress.lm.onnx_weights import check_widths

    names = {m.value: m for m in LM_MODES}
    chosen = mode if isinstance(mode, Mode) else names.get(mode)
    if chosen not in LM_MODES:
        raise unknown_name("language-model mode", str(mode), names)
    methods = {m.value: m for m in WeightMethod}
    how = method if isinstance(method, WeightMethod) else methods.get(method)
    if how is None:
        raise unknown_name("weight method", str(method), methods)
    if how is WeightMethod.GPTQ and chosen is not Mode.INT4:
        raise BadInputError("--method gptq makes 4-bit weights (ONNX Runtime's GPTQ writes MatMulNBits at 4 bits only); use --mode int4")
    spec = QuantSpec(chosen, group_size=group_size, weight_method=how)
    check_widths(set(), spec)  # the block size alone, before any model is loaded
    return spec


