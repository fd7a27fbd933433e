"""``edgepress convert MODEL --to onnx --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgepress.cli.common import VerboseOption, cli_errors, console, err_console, escape, split_list, step
from edgepress.cli.intake import FactoryOption, InputShapeOption, WeightsOption, model_from_args
from edgepress.cli.lm import GGUFOption, HFOption, RemoteCodeOption, TaskOption
from edgepress.errors import BadInputError


@cli_errors
def command(
    model: Annotated[Optional[Path], typer.Argument(help="Model file: .pt2 (torch.export), TorchScript .pt, .onnx.")] = None,
    to: Annotated[str, typer.Option("--to", help="Comma-separated formats (onnx, tflite, executorch, ptl, pt2) or 'all'.")] = "onnx",
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
    """Convert a model into edge artifacts, written atomically under --out."""
    if hf is not None or gguf is not None or task is not None:
        from edgepress.cli import lm

        return lm.convert(_hf_folder(hf, model), gguf, task, to, out, quiet, trust_remote_code)
    from edgepress.conversion import convert

    from edgepress.conversion import ConversionFailure
    from edgepress.artifact import Format
    from edgepress.storage import check_writable_dir

    formats = split_list(to)
    if not formats:
        raise BadInputError(f"--to names no format (got {to!r}); give one or more of onnx, tflite, executorch, ptl, pt2, comma-separated, or all")
    if [f.lower() for f in formats] != ["all"]:
        formats = [Format.parse(name).value for name in formats]  # before any slow loading
    check_writable_dir(out, "--out")  # before any slow loading
    source = model_from_args(model, factory, weights, input_shape)
    _refuse_empty_all(source, formats)
    if [f.lower() for f in formats] == ["all"]:
        _say_skipped(source, quiet)
    with step(f"converting {source.name} to {', '.join(formats)}", quiet):
        made = convert(source, formats, out_dir=out, errors="collect")
    for item in made:
        if isinstance(item, ConversionFailure):
            err_console.print(f"[bold red]failed:[/] {item.format.value}: {escape(item.error)}", highlight=False)
        else:
            console.print(str(item.path) if quiet else f"{item.format.value:>10}  {item.path}  ({item.size_bytes} bytes)", highlight=False)
    if any(isinstance(item, ConversionFailure) for item in made):
        raise typer.Exit(1)


def _hf_folder(hf: Path | None, model: Path | None) -> Path:
    """--hf names the folder; a MODEL argument beside it is ambiguous."""
    if hf is None:
        raise BadInputError("--gguf and --task go with --hf DIR (a Hugging Face model folder)")
    if model is not None:
        raise BadInputError(f"give either a MODEL file ({model}) or --hf DIR, not both")
    return hf


def _say_skipped(source: object, quiet: bool) -> None:
    """Name the formats ``--to all`` leaves out for this model, and why."""
    from edgepress.conversion import skipped_by_all

    for fmt, why in skipped_by_all(source).items():
        if not quiet:
            err_console.print(f"skipped: {fmt.value}: {escape(why)}", highlight=False)


def _refuse_empty_all(source: Any, formats: list[str]) -> None:
    """``--to all`` from a model edgepress converts to nothing is bad input, not a silent success."""
    from edgepress.conversion import formats_from
    from edgepress.artifact import Format

    if [f.lower() for f in formats] != ["all"] or formats_from(source.format):
        return
    kind = source.format.value
    if source.format is Format.ONNX:
        why = ("an ONNX model is already the ONNX artifact (measure it with edgepress bench, shrink it with edgepress quantize), and "
               "tflite, executorch, ptl and pt2 need the original model: convert the PyTorch or Keras model instead")
    else:
        why = "convert the original PyTorch (.pt2 or --factory) or Keras model instead"
    raise BadInputError(f"from {kind} edgepress makes nothing; {why}")
