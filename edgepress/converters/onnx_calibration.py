"""Percentile activation ranges for ONNX Runtime's static quantizer, streamed and bounded.

ONNX Runtime's percentile calibrator keeps every calibrated activation of every sample
in memory, then builds a 2048-bin histogram of each: on MobileNetV2 with 128 crops that
took 8.6 GB and 30 of the 38 seconds of ``edgepress quantize``. A percentile needs only
the values above it, so here each run's activations are read once as they come out of
the session: min, max, and the magnitudes above the running cut-off are merged into a
per-tensor top-k (k = the share of all values the percentile leaves above it), and the
run's arrays are dropped. Memory is one run's activations plus that tail (0.01% of the
values at the 99.99th percentile); the model runs with ONNX Runtime's graph optimisations
on (ORT's calibrator turns them off).

The ranges are ORT's own (``HistogramCollector.compute_percentile``, symmetric): the
percentile of ``|x|``, taken as the left edge of its bin in a 2048-bin histogram of ``|x|``
over all samples, clipped to the tensor's observed min and max, so a file quantized here
is the one ORT's calibrator would have produced. The ranges are handed to
``quantize_static`` as its calibration cache, so ORT still chooses which tensors get
quantized and how. Hand-written: ORT's calibrators offer no bounded-memory percentile.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ORT_BINS = 2048  # ORT's percentile calibrator's histogram bins (create_calibrator's default)


@dataclass
class Tail:
    """One tensor's running statistics: its largest magnitudes, min, max and value count."""

    keep: int = 0
    top: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    cut: float = -math.inf  # no value at or below it can reach the kept top any more
    low: float = math.inf
    high: float = -math.inf
    smallest: float = math.inf  # of |x|: where ORT's histogram of |x| starts
    count: int = 0

    def add(self, values: np.ndarray, runs: int, tail: float) -> None:
        """Merge one run's values; ``runs`` (the calibration's run count) sizes the top-k from the first run."""
        flat = values.ravel()
        if flat.size == 0:
            return
        self.count += flat.size
        self.low, self.high = min(self.low, float(flat.min())), max(self.high, float(flat.max()))
        self.keep = max(self.keep, _kept(flat.size * runs, tail))
        magnitude = np.abs(flat)
        self.smallest = min(self.smallest, float(magnitude.min()))
        fresh = magnitude[magnitude > self.cut] if self.cut > -math.inf else magnitude
        merged = np.concatenate([self.top, fresh])
        if merged.size > self.keep:
            merged = np.partition(merged, merged.size - self.keep)[-self.keep :]
        self.top = merged
        self.cut = float(merged.min()) if merged.size >= self.keep else -math.inf

    def threshold(self, tail: float) -> float:
        """|x| at the percentile: the value with ``floor(tail * count)`` values above it."""
        rank = min(_above(self.count, tail), self.top.size - 1)
        return float(np.sort(self.top)[::-1][rank])

    def bin_edge(self, tail: float, bins: int = ORT_BINS) -> float:
        """The threshold as ORT reports it: the left edge of the bin holding it, in a histogram of
        ``|x|`` with ``bins`` equal bins from the smallest to the largest magnitude seen."""
        top = max(abs(self.low), abs(self.high))
        width = (top - self.smallest) / bins
        if width <= 0:
            return top
        index = min(int((self.threshold(tail) - self.smallest) / width), bins - 1)
        return float(np.float32(self.smallest + index * width))


def calibrated_tensors(path: Path) -> tuple[Any, list[str]]:
    """The shape-inferred model and the tensors ORT's static quantizer would calibrate, in graph order."""
    from onnxruntime.quantization.calibrate import CalibraterBase
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    base = CalibraterBase(path, op_types_to_calibrate=sorted(set(QLinearOpsRegistry) | set(QDQRegistry)))
    chosen, _ = base.select_tensors_to_calibrate(base.model)
    order = {t: i for i, t in enumerate(t for n in base.model.graph.node for t in (*n.input, *n.output))}
    return base.model, sorted(chosen, key=lambda t: order.get(t, -1))


def percentile_ranges(path: Path, runs: Iterable[dict[str, np.ndarray]], count: int, percentile: float) -> Any:
    """``TensorsData`` (ORT's calibration record) of the percentile ranges over the ``count`` feeds of ``runs``."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData

    model, tensors = calibrated_tensors(path)
    tail = 1.0 - percentile / 100.0
    tails = {t: Tail() for t in tensors}
    with tempfile.TemporaryDirectory(prefix="edgepress-calib-") as tmp:
        session = _session(_exposing(model, tensors), Path(tmp))
        for feed in runs:
            for t, values in zip(tensors, session.run(tensors, feed)):
                tails[t].add(values, count, tail)
    ranges = {}
    for t, stats in tails.items():
        if stats.count:
            edge = stats.bin_edge(tail)
            ranges[t] = TensorData(lowest=np.array(max(-edge, stats.low), np.float32), highest=np.array(min(edge, stats.high), np.float32))
    return TensorsData(CalibrationMethod.Percentile, ranges)


def _kept(total: int, tail: float) -> int:
    """How many of the largest values decide the percentile over ``total`` values."""
    return min(total, _above(total, tail) + 1)


def _above(total: int, tail: float) -> int:
    """``floor(tail * total)``, the count of values above the percentile; the nudge keeps
    100 - 99.9 (0.0009999999999998899 in floating point) from losing a whole value."""
    return int(math.floor(tail * total + 1e-6))


def _exposing(model: Any, tensors: list[str]) -> Any:
    """A copy of ``model`` whose outputs are the calibrated tensors."""
    import onnx
    from onnx import TensorProto, helper

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    outputs = {o.name for o in exposed.graph.output}
    exposed.graph.output.extend(helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in tensors if t not in outputs)
    return exposed


def _session(model: Any, tmp: Path) -> Any:
    """An ORT session on ``model``, written with external data so models over 2 GB fit."""
    import onnx
    import onnxruntime as ort

    path = tmp / "calibrate.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="calibrate.data", size_threshold=1024)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
