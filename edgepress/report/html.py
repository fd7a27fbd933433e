"""The self-contained HTML report: one file, inline CSS, inline SVG plots, one inline script.

Rendered from the results JSON alone with Jinja2 autoescaping, so every string that came
from a model or a file (layer and output names, paths, converter messages) is escaped.
A Content-Security-Policy allows only the report's own script (by hash) and forbids every
network request, so even a string that slipped through could neither run nor fetch.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgepress.results import BenchResult
from edgepress.report import summary
from edgepress.report.pareto import pareto_front
from edgepress.report.plots import latency_svg, pareto_svg
from edgepress.report.table import human_bytes
from edgepress.report.template import SCRIPT, STYLE, TEMPLATE

FLAG_HELP = {
    "random_inputs": "no data was given: inputs were seeded random numbers, so drift says little about real inputs and there is no accuracy",
    "noisy": "other work took the worker's CPUs while it was timed, or the slower runs strayed far from the typical one (p90 over 1.5x p50): re-run on a quieter machine, or with fewer threads, before comparing",
    "emulated": "ran under an emulator: timings are not comparable with real hardware and are kept out of speed comparisons",
    "fallback_ops": "some operators were not delegated to the accelerated backend and run on slower fallback kernels",
    "labels_out_of_range": "some labels are not class indices of the model's output, so no accuracy is given: check the data's y",
    "error": "the cell failed; its error is shown in the target's table",
}
OPEN_REPORT_KEYS = ("delegated_ops", "not_delegated_ops", "portable_ops")


def render_html(results: Sequence[BenchResult], *, title: str = "edgepress benchmark report", sources: Sequence[str] = (), created: str | None = None, highlights: Sequence[str] = ()) -> str:
    """The report as one HTML string (see ``write_html_report``)."""
    from markupsafe import Markup

    env = _environment()
    results = list(results)
    quality_label = summary.quality_name(results)
    front = pareto_front(results)
    context: dict[str, Any] = {
        "title": title, "created": created, "sources": list(sources), "highlights": list(highlights),
        "results": results, "target_names": summary.targets(results), "artifacts": _unique_artifacts(results),
        "bests": summary.bests_per_target(results), "front": front, "cross": summary.cross_target(results),
        "flags": summary.flag_counts(results), "flag_help": FLAG_HELP, "open_keys": OPEN_REPORT_KEYS,
        "quality_label": quality_label, "label": summary.label, "quality": summary.quality,
        "pareto_plot": lambda t: pareto_svg(results, front, quality_label, t), "latency_plot": lambda t: latency_svg(results, t),
        "environments": _environments(results), "settings_line": _settings_line(results),
        "style": Markup(STYLE), "script": Markup(SCRIPT), "script_hash": _csp_hash(SCRIPT), "version": _version(),
    }
    return env.from_string(TEMPLATE).render(**context)


def write_html_report(results: Sequence[BenchResult], path: str | Path, **options: Any) -> Path:
    """Write the self-contained HTML report atomically; returns its path.

    Args:
        results: BenchResults (e.g. from ``edgepress.read_results``).
        path: the .html file to write.
        **options: ``title``, ``sources``, ``created``, ``highlights`` (lines shown on top).

    Example:
        >>> edgepress.write_html_report(edgepress.read_results("results.json"), "report.html")
        PosixPath('report.html')
    """
    from edgepress.report.files import write_text_atomic

    return write_text_atomic(Path(path), render_html(results, **options))


def _environment() -> Any:
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(bytes=human_bytes, ms=lambda v: _num(v, 3), num=_num, pct=_pct, sci=_sci)
    return env


def _unique_artifacts(results: Sequence[BenchResult]) -> list[BenchResult]:
    """One result per artifact (by sha256), in first-seen order; cells that made no file are left out."""
    seen: dict[str, BenchResult] = {}
    for r in results:
        if r.artifact.get("sha256"):
            seen.setdefault(r.artifact["sha256"], r)
    return list(seen.values())


def _environments(results: Sequence[BenchResult]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per target, the environment of its first successful cell, flattened to key/value rows."""
    out = []
    for target in summary.targets(results):
        cells = [r for r in results if r.target == target]
        env = next((r.env for r in cells if r.ok), cells[0].env)
        out.append((target, _flatten(env)))
    return out


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
            rows.append((f"{prefix}{key}", text))
    return rows


def _settings_line(results: Sequence[BenchResult]) -> str:
    seen = {json.dumps(r.settings, sort_keys=True) for r in results}
    return "; ".join(sorted(seen)) or "none recorded"


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _sci(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def _version() -> str:
    from edgepress._version import __version__

    return __version__
