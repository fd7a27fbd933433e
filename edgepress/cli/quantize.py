"""``edgepress quantize MODEL --data calib.npz [--max-drop 1%] [--to onnx,tflite,executorch] --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgepress.cli.common import VerboseOption, cli_errors, console, err_console, escape, split_list, step
from edgepress.cli.intake import FactoryOption, InputShapeOption, WeightsOption, model_from_args
from edgepress.cli.lm import GGUFOption, HFOption, RemoteCodeOption, TaskOption
from edgepress.data import DEFAULT_CALIBRATION_SAMPLES
from edgepress.errors import BadInputError

MODE_HELP = ("int8 (static, calibrated), int8_dynamic, fp16, int16x8 (16-bit activations, 8-bit weights), qat (trains on --data with labels); "
             "with --hf: int4, int8_weight (weight-only, blocks of --group-size) or int8_dynamic")


@cli_errors
def command(
    model: Annotated[Optional[Path], typer.Argument(help="Model file: .onnx, .pt2, TorchScript .pt, .keras, .h5, SavedModel folder.")] = None,
    mode: Annotated[str, typer.Option("--mode", help=MODE_HELP)] = "int8",
    data: Annotated[Optional[Path], typer.Option("--data", help="Calibration samples: .npz (x, optional y) or .npy. Without it: seeded random inputs, flagged. With --hf --method gptq: a text file (default: Python's documentation topics).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Calibration samples to use (at most).")] = DEFAULT_CALIBRATION_SAMPLES,
    method: Annotated[Optional[str], typer.Option("--method", help="Activation ranges on ONNX and TFLite: percentile (99.99th, the default), minmax or entropy (ONNX only; TFLite then uses minmax); with --hf, weight rounding: rtn (default), hqq (ONNX) or gptq (calibrated on text).")] = None,
    group_size: Annotated[int, typer.Option("--group-size", help="With --hf: weights per block sharing a scale (32, 64, 128).")] = 32,
    activations: Annotated[str, typer.Option("--activations", help="uint8 (ORT's fast path) or int8.")] = "uint8",
    per_tensor: Annotated[bool, typer.Option("--per-tensor", help="One scale per weight tensor instead of per channel.")] = False,
    keep_float: Annotated[str, typer.Option("--keep-float", help="Comma-separated ONNX node names left in float.")] = "",
    max_drop: Annotated[Optional[str], typer.Option("--max-drop", help="Accuracy budget, 0.01 or 1% (one point): retry until the drop fits (ONNX static INT8).")] = None,
    relative: Annotated[bool, typer.Option("--relative", help="Read --max-drop as a fraction of the float score.")] = False,
    eval_data: Annotated[Optional[Path], typer.Option("--eval", help="Data the guard scores on (labels give accuracy; else agreement). Default: --data.")] = None,
    fastest: Annotated[bool, typer.Option("--fastest", help="With --max-drop: also try the settings without the accuracy measures that cost speed, time those that fit on this machine, keep the fastest.")] = False,
    to: Annotated[str, typer.Option("--to", help="Formats to write for a PyTorch or Keras model (onnx, tflite, executorch).")] = "onnx",
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")] = Path("out"),
    factory: FactoryOption = None,
    weights: WeightsOption = None,
    input_shape: InputShapeOption = None,
    hf: HFOption = None,
    gguf: GGUFOption = None,
    task: TaskOption = None,
    trust_remote_code: RemoteCodeOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the artifact paths.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Quantize a model and write the quantized artifacts; with --max-drop, guard its accuracy.

    An ONNX model is quantized with ONNX Runtime into OUT/<name>_<mode>.onnx. A PyTorch or Keras model is quantized by each format's own quantizer (--to), calibrated on the same samples. --max-drop runs on ONNX: a PyTorch or Keras model is exported to ONNX first.
    """
    from edgepress.artifact import Format
    from edgepress.storage import check_writable_dir
    from edgepress.sweeps.select import parse_drop

    if hf is not None or gguf is not None or task is not None:
        from edgepress.cli import lm
        from edgepress.cli.convert import _hf_folder

        return lm.quantize(_hf_folder(hf, model), gguf, task, mode, group_size, method, to, out, quiet, trust_remote_code, data)
    method = method or "percentile"
    budget = parse_drop(max_drop) if max_drop is not None else None
    _check_choices(method, activations)
    formats = [Format.parse(name) for name in split_list(to)]
    _check_formats(mode, formats, to)
    for path, what in ((data, "--data"), (eval_data, "--eval")):
        if path is not None and not path.exists():
            raise BadInputError(f"{what} file not found: {path}")
    check_writable_dir(out, "--out")
    source = model_from_args(model, factory, weights, input_shape)
    if budget is not None and formats != [Format.ONNX]:
        raise BadInputError("--max-drop guards ONNX Runtime quantization; use --to onnx (the default) or drop --max-drop")
    if source.format is Format.ONNX and formats != [Format.ONNX]:
        raise BadInputError("an ONNX model quantizes to ONNX only; quantize the PyTorch or Keras original for other formats")
    if source.format is Format.TORCHSCRIPT and formats != [Format.ONNX]:
        raise BadInputError(
            "a TorchScript model quantizes to ONNX only (through its ONNX export: TFLite and ExecuTorch start from torch.export, "
            "which cannot take a TorchScript module); use --to onnx, or export the original nn.Module with torch.export and quantize the .pt2"
        )
    if fastest and budget is None:
        raise BadInputError("--fastest picks among the settings that fit --max-drop; give --max-drop too (e.g. --max-drop 1%)")
    if budget is not None and data is None and eval_data is None:
        raise BadInputError("--max-drop needs data to score on: pass --eval (labels give accuracy) or --data")
    options = _options(mode, data, samples, method, activations, not per_tensor, keep_float, budget, relative, eval_data) | ({"fastest": True} if fastest else {})
    with step(f"quantizing {source.name} ({mode})", quiet):
        made = _quantize(source, mode, formats, out, options)
    for artifact in made:
        console.print(str(artifact.path) if quiet else f"{artifact.format.value:>10}  {artifact.path}  ({artifact.size_bytes} bytes)", highlight=False)
        if "guard" in artifact.report and not quiet:
            _print_guard(artifact.report["guard"])
        _warn_coverage(artifact.report)
    if any("accuracy_guard_failed" in a.report.get("flags", []) for a in made):
        raise typer.Exit(1)


def _warn_coverage(report: dict[str, Any]) -> None:
    """One line when a format's quantizer left most weights float (the report's flags say so too)."""
    from edgepress.converters.coverage import WARNING_KEY
    from edgepress.quantization import facts

    warning = facts(report).get(WARNING_KEY)
    if warning:
        err_console.print(f"warning: {escape(warning)}", highlight=False)


def _check_formats(mode: str, formats: list[Any], to: str) -> None:
    """Refuse, before any work, a --to that names nothing or a format the mode cannot make."""
    from edgepress.artifact import Format

    if not formats:
        raise BadInputError(f"--to names no format (got {to!r}); give onnx, tflite or executorch, comma-separated")
    if mode == "int16x8" and Format.EXECUTORCH in formats:
        raise BadInputError(
            "--mode int16x8 cannot make executorch (.pte): ExecuTorch's XNNPACK quantizer has no 16-bit activation scheme; "
            "use --to onnx,tflite (ONNX Runtime QDQ with int16 activations, ai-edge-quantizer int16x8) or --mode int8"
        )


def _check_choices(method: str, activations: str) -> None:
    """Refuse bad flag values in the flags' own words (the pass would name its option instead)."""
    from edgepress.quantization import Activations, Calibration

    for flag, value, allowed in (("--method", method, Calibration), ("--activations", activations, Activations)):
        if value not in {m.value for m in allowed}:
            raise BadInputError(f"{flag} must be one of {', '.join(m.value for m in allowed)}, got {value!r}")


def _options(mode: str, data: Path | None, samples: int, method: str, activations: str, per_channel: bool, keep_float: str,
             budget: float | None, relative: bool, eval_data: Path | None) -> dict[str, Any]:
    """Keyword arguments for ``edgepress.quantize`` (static-only settings only for static modes)."""
    options: dict[str, Any] = {"calibration": str(data) if data else None, "max_drop": budget, "relative": relative,
                               "eval_data": str(eval_data) if eval_data else None, "per_channel": per_channel}
    if mode in ("int8", "int8_static", "int16x8"):
        keep = tuple(k.strip() for k in keep_float.split(",") if k.strip())
        options |= {"samples": samples, "method": method, "activations": activations, "keep_float": keep}
    return options


def _quantize(source: Any, mode: str, formats: list[Any], out: Path, options: dict[str, Any]) -> list[Any]:
    """Quantize ONNX directly; quantize other models as a handle and convert it to each format."""
    import edgepress
    from edgepress.artifact import Format

    # ONNX and TorchScript quantize to ONNX; so does any model under --max-drop (the guard scores ONNX Runtime runs)
    if source.format in (Format.ONNX, Format.TORCHSCRIPT) or options["max_drop"] is not None:
        return [edgepress.quantize(source, mode, out_dir=out, **options)]
    handle = edgepress.quantize(source, mode, out_dir=out, **options)
    return list(edgepress.convert(handle, [f.value for f in formats], out_dir=out))


def _print_guard(guard: dict[str, Any]) -> None:
    """Every attempt of the accuracy guard, and why it stopped."""
    err_console.print(f"accuracy guard on {guard['metric']}: float {guard['float_score']:.4f}, max drop {guard['max_drop']}", highlight=False)
    for i, attempt in enumerate(guard["attempts"], 1):
        mark = "fits" if attempt["fits"] else "over"
        timed = f", p50 {attempt['p50_ms']:.3f} ms" if "p50_ms" in attempt else ""
        timed += f", the same file as: {escape(attempt['same_file_as'])}" if "same_file_as" in attempt else ""
        err_console.print(f"  {i}. {escape(attempt['changed'])}: score {attempt['score']:.4f}, drop {attempt['drop']:.4f} ({mark}){timed}", highlight=False)
    err_console.print(f"  stopped: {guard['stopped']}", highlight=False)
    if "speed" in guard:
        features = ", ".join(guard["speed"]["int8_features"]) or "none"
        err_console.print(f"  kept on this CPU (int8: {features}): {escape(guard['speed']['chosen'])} ({guard['speed']['why']})", highlight=False)
