"""What a report says, derived from results alone: labels, quality, bests, cross-target drift.

Every report renderer (HTML, Markdown, CSV) and the sweep's budgeted search read results
through these functions, so they agree on what "best" and "accuracy" mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgepress.results import BenchResult

SPEED_EXCLUDED_FLAGS = frozenset({"emulated"})  # timings that must not win a speed comparison


def label(r: BenchResult) -> str:
    """A short name for the artifact: ``recipe/format`` from a sweep, else the file name."""
    art = r.artifact
    if art.get("recipe"):
        return f"{art['recipe']}/{art['format']}"
    path = art.get("path")
    return path.replace("\\", "/").rsplit("/", 1)[-1] if path else f"<{art.get('format', '?')}>"


def quality(r: BenchResult) -> float | None:
    """Accuracy when labels were given, else top-1 agreement with the reference, else None."""
    if r.accuracy is not None:
        return r.accuracy
    return r.drift.top1_agreement if r.drift else None


def quality_name(results: Sequence[BenchResult]) -> str:
    """'accuracy' when any result has labelled accuracy, else 'top-1 agreement'."""
    return "accuracy" if any(r.accuracy is not None for r in results) else "top-1 agreement"


def quality_drop(r: BenchResult) -> float | None:
    """How much quality the artifact lost: reference accuracy - accuracy, else 1 - agreement."""
    if r.accuracy is not None and r.reference_accuracy is not None:
        return r.reference_accuracy - r.accuracy
    if r.drift and r.drift.top1_agreement is not None:
        return 1.0 - r.drift.top1_agreement
    return None


def p50(r: BenchResult) -> float | None:
    """Median steady-state latency in ms (None for a failed cell)."""
    return r.latency_ms.p50 if r.latency_ms else None


def speed_comparable(r: BenchResult) -> bool:
    """False for timings that must stay out of speed comparisons (emulated targets)."""
    return r.ok and r.latency_ms is not None and not SPEED_EXCLUDED_FLAGS.intersection(r.flags)


@dataclass(frozen=True)
class Bests:
    """The best artifact on one target for each objective (None where nothing qualifies)."""

    target: str
    size: BenchResult | None
    latency: BenchResult | None
    quality: BenchResult | None


def bests_per_target(results: Sequence[BenchResult]) -> list[Bests]:
    """Smallest, fastest (speed-comparable only) and most accurate successful cell per target."""
    out = []
    for target in targets(results):
        ok = [r for r in results if r.target == target and r.ok]
        fast = [r for r in ok if speed_comparable(r)]
        good = [r for r in ok if quality(r) is not None]
        out.append(
            Bests(
                target,
                min(ok, key=lambda r: r.artifact["size_bytes"], default=None),
                min(fast, key=lambda r: p50(r), default=None),
                max(good, key=lambda r: quality(r), default=None),
            )
        )
    return out


def targets(results: Sequence[BenchResult]) -> list[str]:
    """Target names in first-seen order."""
    return list(dict.fromkeys(r.target for r in results))


def cross_target(results: Sequence[BenchResult]) -> list[tuple[str, list[BenchResult]]]:
    """Artifacts measured on more than one target: (label, its results), by artifact hash."""
    groups: dict[str, list[BenchResult]] = {}
    for r in results:
        if r.artifact.get("sha256"):  # a cell that made no file has no artifact to compare
            groups.setdefault(r.artifact["sha256"], []).append(r)
    return [(label(rs[0]), rs) for rs in groups.values() if len({r.target for r in rs}) > 1]


def flag_counts(results: Sequence[BenchResult]) -> dict[str, int]:
    """How many cells carry each validity flag, plus 'error' for failed cells."""
    counts: dict[str, int] = {}
    for r in results:
        for flag in [*r.flags, *(["error"] if r.error else [])]:
            counts[flag] = counts.get(flag, 0) + 1
    return counts
