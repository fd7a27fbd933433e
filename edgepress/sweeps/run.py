"""``edgepress.sweep``: run a grid's cells (cached by content), then the front and the reports.

Each finished cell is stored the moment it finishes, so an interrupted sweep resumes
with only the missing cells and a repeated sweep reads everything from the cache.
Cells on targets that cannot run here (unknown or unavailable) are recorded as errors
every time and never cached: they run once the target is there.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepress.results import BenchResult
from edgepress.sweeps.cache import CellCache, cell_key
from edgepress.sweeps.cell import data_hash, error_result, model_hash, run_cell
from edgepress.sweeps.grid import Grid, load_grid
from edgepress.sweeps.select import Choice, choose

Progress = Callable[[str], None]
DEFAULT_RUN = {"threads": 1, "warmup": 2, "min_iters": 20, "min_seconds": 0.2, "max_seconds": 30.0, "timeout_s": 900.0}


@dataclass
class SweepOutcome:
    """What a sweep produced: every cell's result, what ran vs came from the cache, the files.

    ``failed`` counts cells that could run here and ended in an error (a cached failure
    counts too); cells on unavailable targets are counted in ``unavailable`` only.
    """

    results: list[BenchResult]
    front: list[BenchResult]
    choice: Choice | None
    ran: int
    cached: int
    unavailable: int
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)
    failed: int = 0


def sweep(
    grid: Grid | str | Path,
    out_dir: str | Path = "sweep-out",
    *,
    executor: str = "local",
    jobs: int | None = None,
    address: str | None = None,
    max_drop: float | None = None,
    objective: str = "latency",
    progress: Progress | None = None,
) -> SweepOutcome:
    """Run recipes x formats x targets; write results.json, report.html, report.md, sweep.json.

    Args:
        grid: a parsed Grid or the path of a grid TOML file.
        out_dir: output folder (cells cache, artifacts, results, reports).
        executor: ``local`` (process pool) or ``ray``.
        jobs: parallel cells (local: default all cores; ray: CPUs of a local instance).
        address: Ray cluster address (``auto``, ``ray://host:10001``); None starts a local one.
        max_drop: accuracy budget (fraction, 0.01 = 1 point); names the best cell within it.
        objective: what "best" minimises within the budget: ``latency`` or ``size``.
        progress: called with one line per cell (``ran: ...``, ``cached: ...``, ``unavailable: ...``).

    Example:
        >>> outcome = edgepress.sweep("grid.toml", "sweep-out", max_drop=0.01)
        >>> outcome.choice.reason
    """
    from edgepress.passes import plugins_enabled

    started = time.perf_counter()
    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    out = Path(out_dir).resolve()
    with plugins_enabled(grid.plugins):
        return _sweep(grid, out, started, executor, jobs, address, max_drop, objective, progress or (lambda _line: None))


def _sweep(grid: Grid, out: Path, started: float, executor: str, jobs: int | None, address: str | None, max_drop: float | None, objective: str, say: Progress) -> SweepOutcome:
    from edgepress.executors import make_executor
    from edgepress.report.pareto import pareto_front

    _check_passes(grid)
    cells = plan(grid, out)
    cache = CellCache(out)
    outcomes: dict[int, dict[str, Any]] = {}
    pending = _fill_known(cells, cache, outcomes, say)
    ran = 0
    if pending:
        runner = make_executor(executor, jobs, address)
        try:
            for index, outcome in runner.map_unordered(run_cell, [cells[i] for i in pending]):
                ran += 1
                _store(cells[pending[index]], outcome, cache, outcomes, pending[index], say)
        finally:
            runner.close()
    results = [BenchResult.from_dict(outcomes[i]["result"]) for i in range(len(cells))]
    front = pareto_front(results)
    choice = choose(results, max_drop, objective) if max_drop is not None else None
    unavailable = sum(1 for c in cells if c.get("unavailable"))
    failed = sum(1 for c, r in zip(cells, results) if r.error and not c["unavailable"])
    outcome = SweepOutcome(results, front, choice, ran, len(cells) - ran - unavailable, unavailable, 0.0, failed=failed)
    outcome.seconds = time.perf_counter() - started
    outcome.files = _write_outputs(out, grid, cells, outcome)
    return outcome


def plan(grid: Grid, out: Path) -> list[dict[str, Any]]:
    """Every cell's job spec with its content key, recipe-major (cells sharing passes run close)."""
    from edgepress.targets.base import RunSettings

    settings = RunSettings(**_settings(grid.run)).to_dict()
    model_id, data_id = model_hash(grid.model), data_hash(grid.model, grid.data)
    reasons = {t: _unavailable_reason(t) for t in grid.targets}
    cells = []
    for recipe, fmt, target in itertools.product(grid.recipes, grid.formats, grid.targets):
        passes = [dict(p) for p in recipe.passes]
        cells.append({
            "key": cell_key(model_id, passes, fmt, target, settings, data_id),
            "model": grid.model, "data": grid.data, "plugins": list(grid.plugins),
            "recipe": {"name": recipe.name, "passes": passes}, "format": fmt, "target": target,
            "settings": settings, "out_dir": str(out), "unavailable": reasons[target],
        })
    return cells


def _settings(run: dict[str, Any]) -> dict[str, Any]:
    merged = dict(DEFAULT_RUN)
    renamed = {"iters": "min_iters"}
    merged.update({renamed.get(k, k): v for k, v in run.items()})
    return merged


def _unavailable_reason(target: str) -> str | None:
    """Why ``target`` cannot run here (unknown name, missing module, no hardware), else None."""
    from edgepress.errors import EdgepressError
    from edgepress.targets.base import resolve

    try:
        return resolve(target).unavailable_reason()
    except EdgepressError as exc:
        return str(exc)
    except ImportError as exc:
        return f"target {target!r} cannot be loaded in this edgepress: {exc}"


def _check_passes(grid: Grid) -> None:
    """Create every recipe's passes and walk its format chain, so a typo or misfit fails before any cell runs."""
    from edgepress.errors import BadInputError
    from edgepress.passes import Recipe, create
    from edgepress.sources import first_format, model_format

    source = model_format(grid.model)
    for recipe in grid.recipes:
        chain = Recipe(tuple(create(step["name"], {k: v for k, v in step.items() if k != "name"}) for step in recipe.passes))
        try:
            chain.check(first_format(source, chain))
        except BadInputError as exc:
            raise type(exc)(f"recipe {recipe.name!r}: {exc}") from None


def _fill_known(cells: list[dict[str, Any]], cache: CellCache, outcomes: dict[int, dict[str, Any]], say: Progress) -> list[int]:
    """Fill unavailable and cached cells; return the indexes still to run."""
    pending = []
    for index, cell in enumerate(cells):
        name = _name(cell)
        if cell["unavailable"]:
            outcomes[index] = {"result": error_result(cell, f"target unavailable: {cell['unavailable']}"), "seconds": 0.0}
            say(f"unavailable: {name}: {cell['unavailable']}")
        elif (hit := cache.get(cell["key"])) is not None:
            outcomes[index] = {"result": hit, "seconds": 0.0}
            say(f"cached: {name}")
        else:
            pending.append(index)
    return pending


def _store(cell: dict[str, Any], outcome: Any, cache: CellCache, outcomes: dict[int, dict[str, Any]], index: int, say: Progress) -> None:
    """Record a finished cell; cache it unless its worker died (that may be transient)."""
    if isinstance(outcome, BaseException):
        outcomes[index] = {"result": error_result(cell, f"the worker running this cell died: {type(outcome).__name__}: {outcome}"), "seconds": 0.0}
        say(f"failed: {_name(cell)}: worker died")
        return
    cache.put(cell["key"], _public(cell), outcome["result"])
    outcomes[index] = outcome
    status = "error" if outcome["result"].get("error") else "ok"
    say(f"ran: {_name(cell)} ({status}, {outcome['seconds']:.1f} s)")


def _write_outputs(out: Path, grid: Grid, cells: list[dict[str, Any]], outcome: SweepOutcome) -> dict[str, Path]:
    from edgepress.report.html import write_html_report
    from edgepress.report.markdown import write_markdown_report
    from edgepress.report.results import write_results
    from edgepress.storage import write_json_atomic

    lines = [outcome.choice.reason] if outcome.choice else []
    files = {
        "results": write_results(out / "results.json", outcome.results),
        "html": write_html_report(outcome.results, out / "report.html", title="edgepress sweep report", highlights=lines),
        "markdown": write_markdown_report(outcome.results, out / "report.md", highlights=lines),
    }
    summary = {
        "cells": [{**_public(c), "status": _status(c, r)} for c, r in zip(cells, outcome.results)],
        "pareto_front": [{"artifact": r.artifact.get("recipe"), "format": r.artifact["format"], "target": r.target, "path": r.artifact.get("path")} for r in outcome.front],
        "choice": outcome.choice.to_dict() if outcome.choice else None,
        "ran": outcome.ran, "cached": outcome.cached, "unavailable": outcome.unavailable, "failed": outcome.failed,
        "seconds": round(outcome.seconds, 3),
    }
    files["summary"] = out / "sweep.json"
    write_json_atomic(files["summary"], summary)
    return files


def _public(cell: dict[str, Any]) -> dict[str, Any]:
    return {k: cell[k] for k in ("key", "recipe", "format", "target")}


def _status(cell: dict[str, Any], r: BenchResult) -> str:
    if cell["unavailable"]:
        return "unavailable"
    return "error" if r.error else "ok"


def _name(cell: dict[str, Any]) -> str:
    return f"{cell['recipe']['name']}/{cell['format']} on {cell['target']}"
