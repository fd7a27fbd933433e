"""Results as CSV, one row per (artifact, target), for spreadsheets and scripts.

Cells that a spreadsheet would run as a formula (leading ``= + - @``, tab or CR) get a
leading apostrophe, because names and error messages come from models and files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgepress.results import BenchResult
from edgepress.report import summary

COLUMNS = (
    "label", "recipe", "format", "target", "path", "sha256", "size_bytes", "init_ms", "first_inference_ms",
    "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "n", "io_p50_ms", "end_to_end_p50_ms", "peak_rss_bytes", "max_abs", "mean_abs", "cosine",
    "top1_agreement", "accuracy", "reference_accuracy", "flags", "lineage", "error",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_csv(results: Sequence[BenchResult]) -> str:
    """The CSV text (header + one row per result)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in results:
        writer.writerow([_safe(v) for v in _row(r)])
    return buffer.getvalue()


def write_csv(results: Sequence[BenchResult], path: str | Path) -> Path:
    """Write the CSV atomically; returns its path."""
    from edgepress.report.files import write_text_atomic

    return write_text_atomic(Path(path), render_csv(results))


def _row(r: BenchResult) -> list[Any]:
    art, lat, drift = r.artifact, r.latency_ms, r.drift
    return [
        summary.label(r), art.get("recipe"), art["format"], r.target, art.get("path"), art["sha256"], art["size_bytes"],
        r.init_ms, r.first_inference_ms,
        *((lat.p50, lat.p90, lat.p99, lat.mean, lat.std, lat.n) if lat else (None,) * 6),
        r.io_ms.p50 if r.io_ms else None, (r.end_to_end_ms or {}).get("p50"),
        r.peak_rss_bytes,
        *((drift.max_abs, drift.mean_abs, drift.cosine, drift.top1_agreement) if drift else (None,) * 4),
        r.accuracy, r.reference_accuracy, ";".join(r.flags), " > ".join(art.get("lineage", [])), r.error,
    ]


def _safe(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
