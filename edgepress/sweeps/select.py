"""The best artifact within an accuracy budget, and why; or the closest one and its miss.

Never returns nothing silently: when no cell fits the budget the choice names the cell
with the smallest drop and by how much it missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgepress.errors import BadInputError
from edgepress.results import BenchResult
from edgepress.report.summary import label, p50, quality_drop, speed_comparable
from edgepress.report.table import human_bytes

OBJECTIVES = ("latency", "size")


@dataclass(frozen=True)
class Choice:
    """The outcome of a budgeted search. ``result`` is None only when nothing was measured."""

    result: BenchResult | None
    within_budget: bool
    objective: str
    max_drop: float
    drop: float | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        r = self.result
        return {
            "artifact": label(r) if r else None, "target": r.target if r else None, "path": r.artifact.get("path") if r else None,
            "within_budget": self.within_budget, "objective": self.objective, "max_drop": self.max_drop, "drop": self.drop, "reason": self.reason,
        }


def parse_drop(text: str | float) -> float:
    """'1%' or '0.01' -> 0.01 (a fraction of accuracy, i.e. 1 percentage point)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BadInputError(f"--max-drop must be a fraction like 0.01 or a percentage like 1%, got {text!r}") from None
    if not 0 <= value <= 1:
        raise BadInputError(f"--max-drop must be between 0 and 1 (or 0% and 100%), got {text!r}")
    return value


def choose(results: Sequence[BenchResult], max_drop: float, objective: str = "latency") -> Choice:
    """Best cell by ``objective`` whose accuracy drop is within ``max_drop``.

    The drop is reference accuracy minus accuracy when labels exist, else 1 - top-1
    agreement. Latency only compares speed-comparable cells (not emulated ones).

    Example:
        >>> choose(results, 0.01, "latency").reason
        'round2/onnx on host-cpu: p50 0.21 ms, drop 0.3 points <= budget 1.0 ...'
    """
    if objective not in OBJECTIVES:
        raise BadInputError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    pool = [r for r in results if r.ok and quality_drop(r) is not None and (objective == "size" or speed_comparable(r))]
    if not pool:
        return Choice(None, False, objective, max_drop, None, "no successful cell has an accuracy or top-1 agreement to check the budget against (measure with a reference and data)")
    fits = [r for r in pool if (quality_drop(r) or 0.0) <= max_drop + 1e-12]
    if not fits:
        return _closest(pool, max_drop, objective)
    best = min(fits, key=lambda r: (_value(r, objective), quality_drop(r)))
    return Choice(best, True, objective, max_drop, quality_drop(best), _why(best, fits, pool, max_drop, objective))


def _closest(pool: Sequence[BenchResult], max_drop: float, objective: str) -> Choice:
    near = min(pool, key=lambda r: (quality_drop(r), _value(r, objective)))
    drop = quality_drop(near) or 0.0
    reason = (
        f"no artifact is within the budget of {_pts(max_drop)}; the closest is {label(near)} on {near.target} "
        f"with a drop of {_pts(drop)}, missing the budget by {_pts(drop - max_drop)} ({_show(near, objective)})"
    )
    return Choice(near, False, objective, max_drop, drop, reason)


def _why(best: BenchResult, fits: Sequence[BenchResult], pool: Sequence[BenchResult], max_drop: float, objective: str) -> str:
    text = f"{label(best)} on {best.target} is the best by {objective} within the budget: {_show(best, objective)}, drop {_pts(quality_drop(best) or 0.0)} <= {_pts(max_drop)}"
    text += f" ({len(fits)} of {len(pool)} measured cells fit the budget)"
    overall = min(pool, key=lambda r: _value(r, objective))
    if overall is not best:
        text += f"; {label(overall)} on {overall.target} would be better ({_show(overall, objective)}) but drops {_pts(quality_drop(overall) or 0.0)}"
    return text


def _value(r: BenchResult, objective: str) -> float:
    return float(r.artifact["size_bytes"]) if objective == "size" else float(p50(r) or 0.0)


def _show(r: BenchResult, objective: str) -> str:
    return f"size {human_bytes(r.artifact['size_bytes'])}" if objective == "size" else f"p50 {p50(r):.3f} ms"


def _pts(fraction: float) -> str:
    return f"{100 * fraction:.2f} points"
