"""Results as a readable terminal table (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgepress.results import BenchResult

if TYPE_CHECKING:
    from rich.table import Table


COLUMNS = ("artifact", "format", "target", "size", "init ms", "1st ms", "p50 ms", "p90 ms", "p99 ms", "io ms", "peak RSS", "max|err|", "cosine", "top-1 agree", "vs host-cpu", "accuracy", "flags / error")
CAPTION = "p50/p90/p99: the runtime's inference call alone; io: host arrays in and out (quantize, copy), timed apart"
NARROW_CAPTION = "p50: the runtime's inference call alone; host arrays in and out are timed apart (--wide, results JSON io_ms)"
# The default table fits TABLE_WIDTH terminal columns: what a reader compares first (the
# file name shows the format). ``wide=True`` has every column; the reports have every value.
NARROW_COLUMNS = ("artifact", "target", "size", "p50 ms", "peak RSS", "max|err|", "top-1 agree", "accuracy", "flags / error")
TABLE_WIDTH = 120


def results_table(results: Sequence[BenchResult], wide: bool = False) -> Table:
    """One row per (artifact, target): size, timings, memory, drift, accuracy, flags.

    Print it within ``TABLE_WIDTH`` columns unless ``wide`` (long names and errors wrap).
    """
    from rich.table import Table

    columns = COLUMNS if wide else NARROW_COLUMNS
    rows = [dict(zip(COLUMNS, row_cells(r))) for r in results]
    table = Table(title="edgepress bench", caption=CAPTION if wide else NARROW_CAPTION, show_lines=False)
    for column in columns:
        # the artifact names its row: shown whole, the other columns give way
        width = max((len(row[column]) for row in rows), default=None) if column == "artifact" else None
        table.add_column(column, justify="left" if column in ("artifact", "format", "target", "flags / error") else "right", min_width=width)
    for row in rows:
        table.add_row(*(row[column] for column in columns))
    return table


def row_cells(r: BenchResult) -> list[str]:
    """The table cells of one result, as strings ('-' where there is no value)."""
    lat = r.latency_ms
    drift = r.drift
    return [
        _name(r.artifact["path"]) or f"<{r.artifact['format']}>",
        r.artifact["format"],
        r.target,
        human_bytes(r.artifact["size_bytes"]),
        _num(r.init_ms, 1),
        _num(r.first_inference_ms, 2),
        _num(lat.p50 if lat else None, 3),
        _num(lat.p90 if lat else None, 3),
        _num(lat.p99 if lat else None, 3),
        _num(r.io_ms.p50 if r.io_ms else None, 3),
        human_bytes(r.peak_rss_bytes),
        f"{drift.max_abs:.2e}" if drift else "-",
        f"{drift.cosine:.6f}" if drift else "-",
        _pct(drift.top1_agreement if drift else None),
        _vs_host(r.drift_vs_host_cpu),
        _pct(r.accuracy),
        f"error: {r.error}" if r.error else ", ".join(r.flags),
    ]


def _vs_host(cross: dict | None) -> str:
    """Max abs difference from the same artifact on host-cpu (cross-ISA drift)."""
    if not cross:
        return "-"
    return "n/a" if "error" in cross else f"{cross['max_abs']:.2e}"


def human_bytes(size: int | None) -> str:
    """1536 -> '1.5 KiB'."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _name(path: str | None) -> str:
    return path.rsplit("/", 1)[-1] if path else ""


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
