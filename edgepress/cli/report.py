"""``edgepress report RESULTS.json... --html report.html [--md report.md] [--csv report.csv]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgepress.cli.common import VerboseOption, cli_errors, console


@cli_errors
def command(
    results: Annotated[list[Path], typer.Argument(help="Results JSON files (from bench, demo or sweep); their cells are joined.")],
    html: Annotated[Optional[Path], typer.Option(help="Self-contained HTML report (inline plots, no network requests).")] = None,
    md: Annotated[Optional[Path], typer.Option(help="Short Markdown summary for a pull request.")] = None,
    csv: Annotated[Optional[Path], typer.Option(help="CSV, one row per artifact and target.")] = None,
    title: Annotated[str, typer.Option(help="Title of the HTML report.")] = "edgepress benchmark report",
    verbose: VerboseOption = False,
) -> None:
    """Render reports from results JSON. Without --html/--md/--csv, writes report.html."""
    from edgepress.report.writer import write_report
    from edgepress.storage import check_writable_file

    if html is None and md is None and csv is None:
        html = Path("report.html")
    for option, path in (("--html", html), ("--md", md), ("--csv", csv)):
        if path is not None:
            check_writable_file(path, option, example=f"report.{option[2:]}")
    for path in write_report(results, html=html, md=md, csv=csv, title=title):
        console.print(f"report: {path}", highlight=False, soft_wrap=True)
