"""The ``edgepress`` command: thin commands over the Python API (one module each)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from edgepress import __version__
from edgepress.cli import bench, convert, demo, listing, quantize, run
from edgepress.cli import report as report_cli
from edgepress.cli import cache as cache_cli
from edgepress.cli import sweep as sweep_cli

app = typer.Typer(
    name="edgepress",
    help="Compress trained models, convert them to edge formats, measure them on targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"edgepress {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """Exit codes: 0 ok, 1 a job failed, 2 bad input."""


app.command("convert")(convert.command)
app.command("quantize")(quantize.command)
app.command("bench")(bench.command)
app.command("demo")(demo.command)
app.command("run")(run.command)
app.command("report")(report_cli.command)
app.command("sweep")(sweep_cli.command)
listing.register(app)
app.add_typer(cache_cli.app, name="cache")


def run() -> None:
    """Console-script entry point."""
    app()
