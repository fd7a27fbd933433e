"""Pareto fronts over size, latency and quality (accuracy or top-1 agreement).

A cell is on the front when no other cell on the same target is at least as small, at
least as fast and at least as accurate, and strictly better in one. Emulated timings are
not speed-comparable, so on an emulated target only size and quality count.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgepress.results import BenchResult
from edgepress.report.summary import p50, quality, speed_comparable, targets


def objectives(r: BenchResult) -> tuple[float, ...]:
    """The values to minimise: size, latency (when comparable), negated quality (-1 when unknown)."""
    q = quality(r)
    lat = p50(r) if speed_comparable(r) else 0.0
    return (float(r.artifact["size_bytes"]), float(lat or 0.0), -(q if q is not None else -1.0))


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(results: Sequence[BenchResult]) -> list[BenchResult]:
    """The successful cells no other cell on the same target dominates.

    Example:
        >>> [label(r) for r in pareto_front(results)]
        ['fp32/onnx', 'round1/onnx']
    """
    front = []
    for target in targets(results):
        cells = [r for r in results if r.target == target and r.ok]
        points = [objectives(r) for r in cells]
        front.extend(r for r, p in zip(cells, points) if not any(dominates(q, p) for q in points))
    return front
