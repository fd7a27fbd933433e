"""``edgepress convert MODEL --to onnx --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rich.markup import escape

from edgepress.cli.common import cli_errors, console, err_console, split_list, step
from edgepress.cli.intake import model_from_args


@cli_errors
def command(
    model: Annotated[Optional[Path], typer.Argument(help="Model file: .pt2 (torch.export), TorchScript .pt, .onnx.")] = None,
    to: Annotated[str, typer.Option("--to", help="Comma-separated formats (onnx, tflite, executorch, ptl, pt2) or 'all'.")] = "onnx",
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")] = Path("out"),
    factory: Annotated[Optional[str], typer.Option(help="Build the model by calling package.module:function (runs your code).")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="State dict for --factory, read with torch.load(weights_only=True).")] = None,
    input_shape: Annotated[Optional[str], typer.Option(help="Input shape like 1x3x224x224 (TorchScript files and --factory).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the artifact paths.")] = False,
) -> None:
    """Convert a model into edge artifacts, written atomically under --out."""
    from edgepress.api import convert

    from edgepress.api import ConversionFailure
    from edgepress.artifact import Format

    formats = split_list(to)
    if [f.lower() for f in formats] != ["all"]:
        formats = [Format.parse(name).value for name in formats]  # before any slow loading
    source = model_from_args(model, factory, weights, input_shape)
    with step(f"converting {source.name} to {', '.join(formats)}", quiet):
        made = convert(source, formats, out_dir=out, errors="collect")
    for item in made:
        if isinstance(item, ConversionFailure):
            err_console.print(f"[bold red]failed:[/] {item.format.value}: {escape(item.error)}", highlight=False)
        else:
            console.print(str(item.path) if quiet else f"{item.format.value:>10}  {item.path}  ({item.size_bytes} bytes)", highlight=False)
    if any(isinstance(item, ConversionFailure) for item in made):
        raise typer.Exit(1)
