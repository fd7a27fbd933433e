"""The ``edgepress`` command: thin commands over the Python API (one module each)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from edgepress._version import __version__
from edgepress.cli import bench, convert, demo, listing, quantize, run
from edgepress.cli import report as report_cli
from edgepress.cli import cache as cache_cli
from edgepress.cli import sweep as sweep_cli
from edgepress.cli.common import err_console, escape

# Plain help text: rich markup would eat bracketed words ("[model]", "[[recipe]]") and
# its help renderer costs more start-up time than the rest of the CLI together.
app = typer.Typer(
    name="edgepress",
    help="Compress trained models, convert them to edge formats, measure them on targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
    """Console-script entry point: a usage error is one line on stderr (exit 2), like any bad input."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors: unknown option, missing argument
        sys.exit(_usage_error(exc))
    except typer.Abort:  # Ctrl-D at a prompt
        err_console.print("aborted", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: typer.TyperException) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group prints its help (typer tells it by name too)
        exc.show()
    else:
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        err_console.print(f"[bold red]error:[/] {escape(' '.join(exc.format_message().split()))}{hint}", highlight=False, soft_wrap=True)
    return exc.exit_code
