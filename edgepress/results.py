"""What a measurement gives: BenchResult (one artifact on one target) and its LatencyStats.

Data types only, so the reports, sweeps and CLI read results without importing the
orchestrator (``edgepress.measure``) that produces them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from edgepress.drift import Drift


@dataclass(frozen=True)
class LatencyStats:
    """Steady-state latency in milliseconds, with every raw sample kept."""

    mean: float
    std: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    n: int
    samples: list[float] = field(repr=False)

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> LatencyStats:
        import numpy as np

        arr = np.asarray(samples, dtype=np.float64)
        p50, p90, p99 = (float(v) for v in np.percentile(arr, [50, 90, 99]))
        return cls(float(arr.mean()), float(arr.std()), p50, p90, p99, float(arr.min()), float(arr.max()), int(arr.size), [float(v) for v in arr])

    @property
    def cv(self) -> float:
        return self.std / self.mean if self.mean else math.inf

    @property
    def tail(self) -> float:
        """p90 / p50: how far the slower runs stray from the typical one."""
        return self.p90 / self.p50 if self.p50 else math.inf


@dataclass
class BenchResult:
    """One artifact measured on one target. ``error`` is set when the cell failed."""

    artifact: dict[str, Any]
    target: str
    latency_ms: LatencyStats | None = None  # the runtime's inference call alone, inputs already in its own form
    io_ms: LatencyStats | None = None  # host arrays into that form and the outputs back, timed apart
    end_to_end_ms: dict[str, float] | None = None  # p50 and mean of both together: what a caller with float arrays pays
    contention: dict[str, float] | None = None  # preemptions_per_s and cpu_busy of the worker while it was timed
    import_ms: float | None = None
    init_ms: float | None = None
    first_inference_ms: float | None = None
    peak_rss_bytes: int | None = None
    peak_rss_method: str | None = None
    drift: Drift | None = None
    accuracy: float | None = None
    reference_accuracy: float | None = None
    drift_vs_host_cpu: dict[str, Any] | None = None  # same artifact on host-cpu (edgepress.crossdrift)
    env: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    input_transform: str | None = None
    model_stats: dict[str, Any] | None = None
    reference_stats: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def set_timings(self, samples_ms: Sequence[float], io_samples_ms: Sequence[float]) -> None:
        """Invoke-only latency, the host conversion apart, and their sum (p50, mean)."""
        self.latency_ms = LatencyStats.from_samples(samples_ms) if samples_ms else None
        self.io_ms = LatencyStats.from_samples(io_samples_ms) if io_samples_ms else None
        if self.latency_ms and self.io_ms:
            self.end_to_end_ms = {"p50": self.latency_ms.p50 + self.io_ms.p50, "mean": self.latency_ms.mean + self.io_ms.mean}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = asdict(self.latency_ms) if self.latency_ms else None
        data["io_ms"] = asdict(self.io_ms) if self.io_ms else None
        data["drift"] = self.drift.to_dict() if self.drift else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        fields = dict(data)
        fields["latency_ms"] = LatencyStats(**data["latency_ms"]) if data.get("latency_ms") else None
        fields["io_ms"] = LatencyStats(**data["io_ms"]) if data.get("io_ms") else None
        fields["drift"] = Drift(**data["drift"]) if data.get("drift") else None
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})
