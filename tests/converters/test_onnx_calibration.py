"""Streamed percentile ranges: the same ranges as ONNX Runtime's own percentile calibrator, in bounded memory."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from edgepress.converters.onnx_calibration import Tail, percentile_ranges


def _nearest_rank(values: np.ndarray, percentile: str) -> float:
    """The value with floor((100 - percentile)% of n) values above it (exact arithmetic), from the whole sorted array."""
    ordered = np.sort(np.abs(values.ravel()))[::-1]
    return float(ordered[math.floor((100 - Fraction(percentile)) / 100 * ordered.size)])


@pytest.mark.parametrize("where", ["spread", "one_run"])
def test_the_running_tail_finds_the_exact_percentile(where):
    rng = np.random.default_rng(0)
    runs = [rng.standard_normal(5000).astype(np.float32) for _ in range(40)]
    if where == "one_run":  # every outlier in a single run: the top-k must be sized for the whole calibration
        runs[17][:100] = rng.uniform(50, 60, 100)
    tail, stats = 1 - 99.9 / 100, Tail()
    for values in runs:
        stats.add(values, runs=len(runs), tail=tail)
    everything = np.concatenate(runs)
    assert stats.threshold(tail) == _nearest_rank(everything, "99.9")
    assert (stats.low, stats.high, stats.count) == (float(everything.min()), float(everything.max()), everything.size)
    assert stats.top.size == 201  # 0.1% of the values and the one at the percentile: bounded by the tail, not the data


def test_ranges_match_onnx_runtimes_percentile_calibrator(onnx_artifact, tmp_path):
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    from edgepress.converters.onnx_quant import ort_reader, preprocess

    from tests.conftest import INPUT_SHAPE

    x = np.random.default_rng(3).standard_normal((24, *INPUT_SHAPE[1:])).astype(np.float32)
    name = onnx_artifact.input_spec.names[0]
    model = tmp_path / "pre.onnx"
    preprocess(onnx_artifact.path, model)
    ours = percentile_ranges(model, ({name: x[i : i + 1]} for i in range(24)), 24, 99.9)
    quantized_ops = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))  # what quantize_static calibrates
    theirs = create_calibrator(model, quantized_ops, augmented_model_path=str(tmp_path / "aug.onnx"), calibrate_method=CalibrationMethod.Percentile, extra_options={"percentile": 99.9})
    theirs.collect_data(ort_reader((x,), (name,)))
    theirs = theirs.compute_data()
    assert set(ours.keys()) == set(theirs.keys()) and len(ours.keys()) > 3
    for tensor in theirs.keys():
        ours_lo, ours_hi = (float(v) for v in ours[tensor].range_value)
        ref_lo, ref_hi = (float(v) for v in theirs[tensor].range_value)
        # the same bin edge of the same histogram; float32 rounding of the edge apart
        assert ours_lo == pytest.approx(ref_lo, rel=1e-5, abs=1e-7) and ours_hi == pytest.approx(ref_hi, rel=1e-5, abs=1e-7), tensor
