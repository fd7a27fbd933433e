"""``edgepress sweep grid.toml [--out DIR] [--executor local|ray] [--max-drop X --objective latency|size]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgepress.cli.common import VerboseOption, cli_errors, console, err_console


@cli_errors
def command(
    grid: Annotated[Path, typer.Argument(help="Grid TOML: [model], [[recipe]] pass lists, formats, targets, optional [data] and [run].")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: cells cache, artifacts, results.json, report.html, report.md.")] = Path("sweep-out"),
    executor: Annotated[str, typer.Option(help="Where cells run: 'local' (process pool) or 'ray'.")] = "local",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address ('auto', 'ray://host:10001'); default: a local Ray instance.")] = None,
    jobs: Annotated[Optional[int], typer.Option(help="Cells run at once (default: CPU cores). Use 1 for the least noisy latency.")] = None,
    max_drop: Annotated[Optional[str], typer.Option("--max-drop", help="Accuracy budget: 0.01 or 1% (one point). Names the best artifact within it.")] = None,
    objective: Annotated[str, typer.Option(help="Best within the budget by 'latency' (p50) or 'size'.")] = "latency",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary lines.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Run recipes x formats x targets, cached by content: an interrupted sweep resumes, a repeated one is instant."""
    from edgepress.errors import BadInputError
    from edgepress.storage import check_writable_dir
    from edgepress.sweeps.run import sweep
    from edgepress.sweeps.select import parse_drop

    if jobs is not None and jobs < 1:
        raise BadInputError(f"--jobs must be at least 1, got {jobs}")
    check_writable_dir(out, "--out")
    budget = parse_drop(max_drop) if max_drop is not None else None

    def progress(line: str) -> None:
        if not quiet:
            err_console.print(line, highlight=False, markup=False, soft_wrap=True)

    outcome = sweep(grid, out, executor=executor, jobs=jobs, address=address, max_drop=budget, objective=objective, progress=progress)
    console.print(f"{len(outcome.results)} cells: {outcome.ran} ran, {outcome.cached} cached, {outcome.unavailable} unavailable, {outcome.failed} failed; {outcome.seconds:.1f} s", highlight=False)
    console.print("pareto front: " + (", ".join(f"{r.artifact.get('recipe')}/{r.artifact['format']} @ {r.target}" for r in outcome.front) or "none"), highlight=False, markup=False, soft_wrap=True)
    if outcome.choice:
        console.print(("within budget: " if outcome.choice.within_budget else "over budget: ") + outcome.choice.reason, highlight=False, markup=False, soft_wrap=True)
    for kind in ("results", "html", "markdown"):
        console.print(f"{kind}: {outcome.files[kind]}", highlight=False, soft_wrap=True)
    if outcome.failed:  # a failed cell is a failed job; cells on unavailable targets are not (they run once the target is there)
        err_console.print(f"{outcome.failed} of {len(outcome.results)} cell(s) failed; their errors are in {outcome.files['results']}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
