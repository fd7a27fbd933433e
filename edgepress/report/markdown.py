"""A short Markdown summary of results, fit for a pull-request comment.

Strings from models and files are escaped: HTML special characters become entities (a
PR renderer would otherwise interpret tags) and table pipes, backticks and brackets are
backslash-escaped so a name cannot break the table or add links.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from edgepress.results import BenchResult
from edgepress.report import summary
from edgepress.report.pareto import pareto_front
from edgepress.report.table import human_bytes

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def md_escape(text: object) -> str:
    """Make any string inert inside Markdown and GitHub's HTML subset.

    Example:
        >>> md_escape("<script>|x")
        '&lt;script&gt;\\\\|x'
    """
    raw = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _MD_SPECIAL.sub(r"\\\1", " ".join(raw.split()))


def render_markdown(results: Sequence[BenchResult], highlights: Sequence[str] = ()) -> str:
    """Best per target, the Pareto front, one line per cell, and the validity flags."""
    results = list(results)
    q_name = summary.quality_name(results)
    lines = [f"### edgepress: {len(results)} measurement(s) on {', '.join(md_escape(t) for t in summary.targets(results))}", ""]
    lines += [f"> {md_escape(h)}" for h in highlights] + ([""] if highlights else [])
    lines += ["| target | smallest | fastest (p50) | best " + q_name + " |", "| --- | --- | --- | --- |"]
    for b in summary.bests_per_target(results):
        lines.append(f"| {md_escape(b.target)} | {_best(b.size, _size)} | {_best(b.latency, _lat)} | {_best(b.quality, _q)} |")
    front = pareto_front(results)
    lines += ["", "**Pareto front** (size, latency, " + q_name + "): " + (", ".join(f"{md_escape(summary.label(r))} @ {md_escape(r.target)}" for r in front) or "none"), ""]
    lines += ["| artifact | target | size | p50 ms | p99 ms | " + q_name + " | flags |", "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    lines += [_row(r) for r in results]
    lines += ["", "p50 / p99: the runtime's inference call alone; turning float arrays into its inputs and back is `io_ms` in the results JSON."]
    counts = summary.flag_counts(results)
    if counts:
        lines += ["", "Flags: " + ", ".join(f"{md_escape(k)} x{v}" for k, v in counts.items())]
    return "\n".join(lines) + "\n"


def write_markdown_report(results: Sequence[BenchResult], path: str | Path, highlights: Sequence[str] = ()) -> Path:
    """Write the Markdown summary atomically; returns its path."""
    from edgepress.report.files import write_text_atomic

    return write_text_atomic(Path(path), render_markdown(results, highlights))


def _row(r: BenchResult) -> str:
    lat = r.latency_ms
    flags = ("error: " + r.error) if r.error else ", ".join(r.flags)
    cells = [summary.label(r), r.target, human_bytes(r.artifact["size_bytes"]), _f(lat.p50 if lat else None), _f(lat.p99 if lat else None), _q(r), flags[:160] or "-"]
    return "| " + " | ".join(md_escape(c) for c in cells) + " |"


def _best(r: BenchResult | None, value: object) -> str:
    return "-" if r is None else f"{md_escape(summary.label(r))} ({md_escape(value(r))})"  # type: ignore[operator]


def _size(r: BenchResult) -> str:
    return human_bytes(r.artifact["size_bytes"])


def _lat(r: BenchResult) -> str:
    return f"{_f(summary.p50(r))} ms"


def _q(r: BenchResult) -> str:
    q = summary.quality(r)
    return "-" if q is None else f"{100 * q:.1f}%"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
