"""``edgepress.write_report``: HTML, Markdown and CSV reports from results or results files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgepress.errors import BadInputError
from edgepress.results import BenchResult
from edgepress.storage import check_writable_file

ResultsArg = Sequence[BenchResult] | Sequence[str | Path] | str | Path


def load_results(sources: ResultsArg) -> tuple[list[BenchResult], list[str], str | None]:
    """Results from BenchResults or results-JSON paths: (results, source names, newest 'created')."""
    from edgepress.report.results import read_results

    items = [sources] if isinstance(sources, (str, Path)) else list(sources)
    if all(isinstance(i, BenchResult) for i in items):
        return list(items), [], None  # type: ignore[arg-type]
    results: list[BenchResult] = []
    created = []
    for item in items:
        if isinstance(item, BenchResult):
            raise BadInputError("pass either BenchResults or results-file paths to write_report, not a mix")
        results += read_results(item)
        created.append(_created(Path(item)))
    return results, [Path(i).name for i in items], max((c for c in created if c), default=None)  # type: ignore[arg-type]


def write_report(
    results: ResultsArg,
    html: str | Path | None = None,
    md: str | Path | None = None,
    csv: str | Path | None = None,
    *,
    title: str = "edgepress benchmark report",
    highlights: Sequence[str] = (),
) -> list[Path]:
    """Write the requested reports; returns the paths written.

    Args:
        results: BenchResults, or one or more results-JSON paths (their cells are joined).
        html: self-contained HTML report (no network requests; plots are inline SVG).
        md: short Markdown summary for a pull request.
        csv: one row per (artifact, target).
        title: the HTML report's title.
        highlights: lines shown at the top of the HTML and Markdown (e.g. a sweep's choice).

    Example:
        >>> edgepress.write_report("out/results.json", html="report.html", md="report.md")
        [PosixPath('report.html'), PosixPath('report.md')]
    """
    from edgepress.report.csv import write_csv
    from edgepress.report.html import write_html_report
    from edgepress.report.markdown import write_markdown_report

    if html is None and md is None and csv is None:
        raise BadInputError("write_report needs at least one of html=, md=, csv= (where to write)")
    for option, target in (("html=", html), ("md=", md), ("csv=", csv)):
        if target is not None:
            check_writable_file(target, option, example=f"report.{option[:-1]}")  # every output, before anything is read or written
    docs = language_model_docs(results)
    if docs is not None:
        return write_lm_reports(docs, html, md, csv, title)
    cells, sources, created = load_results(results)
    if not cells:
        raise BadInputError("there are no results to report (the results files hold no cells)")
    written = []
    if html is not None:
        written.append(write_html_report(cells, html, title=title, sources=sources, created=created, highlights=highlights))
    if md is not None:
        written.append(write_markdown_report(cells, md, highlights))
    if csv is not None:
        written.append(write_csv(cells, csv))
    return written


def language_model_docs(results: ResultsArg) -> list[dict[str, Any]] | None:
    """The documents when every results file is a language-model run's (``edgepress.lm-results``), else None."""
    from edgepress.lm.bench import SCHEMA

    items = [results] if isinstance(results, (str, Path)) else list(results)
    docs = [_json(Path(i)) for i in items if isinstance(i, (str, Path))]
    kinds = [isinstance(d, dict) and d.get("schema") == SCHEMA for d in docs]
    if not any(kinds):
        return None
    if not all(kinds) or len(docs) != len(items):
        raise BadInputError("language-model results (edgepress.lm-results) are reported on their own: give only those files")
    if len(docs) > 1:
        raise BadInputError("give one language-model results file at a time (each run has its own reference and text)")
    return docs  # type: ignore[return-value]


def write_lm_reports(docs: list[dict[str, Any]], html: str | Path | None, md: str | Path | None, csv: str | Path | None, title: str) -> list[Path]:
    from edgepress.lm.table import markdown_table
    from edgepress.report.files import write_text_atomic
    from edgepress.report.lm_html import write_lm_html

    if csv is not None:
        raise BadInputError("--csv is not made for language-model results; use --html or --md (the JSON has every number)")
    written = []
    if html is not None:
        written.append(write_lm_html(docs[0], Path(html), title if title != "edgepress benchmark report" else "edgepress language-model report"))
    if md is not None:
        written.append(write_text_atomic(Path(md), markdown_table(docs[0]) + "\n"))
    return written


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # read_results says what is wrong with it


def _created(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("created")
    except (OSError, ValueError, AttributeError):
        return None
