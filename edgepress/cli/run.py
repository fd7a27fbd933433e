"""``edgepress run recipe.toml [--out DIR]``: a model, a chain of passes, optional measurement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgepress.cli.common import VerboseOption, WideOption, cli_errors, console, err_console, log_into, print_results


@cli_errors
def command(
    recipe: Annotated[Path, typer.Argument(help="Recipe TOML: a [model] table, [[pass]] tables, optional [output] and [bench] tables.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (overrides the recipe's [output] dir).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the paths of the files made.")] = False,
    wide: WideOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run a recipe, a chain of passes such as prune -> distill -> quantize -> convert, and print what each step made."""
    from edgepress.recipe_file import RecipeFile, run_recipe
    from edgepress.storage import check_writable_dir

    spec = RecipeFile.read(recipe)  # bad recipes fail here, before any slow import or training
    check_writable_dir(out or spec.out_dir, "--out" if out else f"{recipe}'s [output] dir")
    log_into(out or spec.out_dir)

    def progress(message: str) -> None:
        if not quiet:
            err_console.print(f"[dim]·[/] {message}", highlight=False)

    run = run_recipe(recipe, out_dir=out, progress=progress)
    if quiet:
        for art in run.steps:
            if art.path is not None:
                console.print(str(art.path), highlight=False)
        return
    console.print(steps_table(run.source, run.steps))
    if run.results:
        print_results(run.results, wide)
        console.print(f"results: {run.results_path}", highlight=False)
    if any(r.error for r in run.results):
        raise typer.Exit(1)


def steps_table(source: Any, steps: tuple[Any, ...]) -> Any:
    """A rich table: one row per step with its format, file, size and model statistics."""
    from rich.table import Table

    from edgepress.stats import model_stats

    table = Table(title="recipe steps")
    for column in ("step", "pass", "format", "file", "bytes", "params", "MACs", "sparsity"):
        table.add_column(column, justify="right" if column in ("bytes", "params", "MACs", "sparsity") else "left")
    rows = [("0", "(original)", source)] + [(str(i), art.lineage[-1].split("(")[0], art) for i, art in enumerate(steps, 1)]
    for index, name, art in rows:
        stats = art.report.get("stats") or model_stats(art)
        table.add_row(
            index, name, art.format.value, str(art.path) if art.path else "(in memory)",
            str(art.size_bytes), _num(stats.get("params")), _num(stats.get("macs")), _pct(stats.get("sparsity")),
        )  # fmt: skip
    return table


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
