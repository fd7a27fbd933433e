"""``edgepress demo``: train, convert and measure the built-in digits model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgepress.cli.common import VerboseOption, WideOption, cli_errors, console, err_console, print_results


@cli_errors
def command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the artifacts and results.json.")] = Path("edgepress-demo"),
    llm: Annotated[bool, typer.Option("--llm", help="Instead: SmolLM2-135M to ONNX in FP32, INT4 (GPTQ) and INT8 weight-only and to TFLite INT4 (GPTQ), measured (tokens/s, perplexity).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the results path.")] = False,
    wide: WideOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Train a small CNN on scikit-learn's digits, convert it to every format, measure it, write the HTML report."""
    from edgepress.demo import run_demo
    from edgepress.storage import check_writable_dir

    check_writable_dir(out, "--out")
    def progress(message: str) -> None:
        if not quiet:
            err_console.print(f"[dim]·[/] {message}", highlight=False)

    if llm:
        return _llm(out, progress, quiet)

    results = run_demo(out, progress=progress)
    if not quiet:
        print_results(results, wide)
    console.print(f"results: {out / 'results.json'}", highlight=False)
    console.print(f"report:  {out / 'report.html'}", highlight=False)
    if any(r.error for r in results):
        raise typer.Exit(1)


def _llm(out: Path, progress: Any, quiet: bool) -> None:
    from edgepress.demo_lm import run_llm_demo
    from edgepress.lm.table import markdown_table

    doc = run_llm_demo(out, progress)
    if not quiet:
        console.print(markdown_table(doc), highlight=False, markup=False)
    console.print(f"results: {out / 'results_lm.json'}", highlight=False)
    console.print(f"report:  {out / 'report_lm.md'}, {out / 'report_lm.html'}", highlight=False)
    if any("error" in r for r in doc["results"]):
        raise typer.Exit(1)
