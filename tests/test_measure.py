import numpy as np
import pytest

import edgepress
from edgepress.artifact import Artifact, Format
from edgepress.results import LatencyStats
from edgepress.errors import DataError


def test_bench_against_torch_reference(onnx_artifact, torch_model, eval_npz, fast):
    (r,) = edgepress.bench([onnx_artifact], target="host-cpu", reference=torch_model, data=eval_npz, settings=fast)
    assert r.ok and r.target == "host-cpu"
    assert r.drift.max_abs < 1e-4 and r.drift.top1_agreement == 1.0 and r.drift.samples == 12
    assert r.accuracy == r.reference_accuracy is not None
    assert r.latency_ms.n >= fast.min_iters and r.latency_ms.p50 <= r.latency_ms.p99
    assert "random_inputs" not in r.flags
    assert r.model_stats["params"] > 0 and r.model_stats["gzip_bytes"] > 0
    assert r.reference_stats["params"] > 0 and r.reference_stats["macs"] > 0


def test_random_inputs_are_flagged(onnx_artifact, torch_model, fast):
    (r,) = edgepress.bench(onnx_artifact, reference=torch_model, settings=fast)
    assert "random_inputs" in r.flags and r.accuracy is None and r.drift.samples == 32


def test_failed_cell_is_recorded_and_the_rest_go_on(onnx_artifact, tmp_path, fast):
    keras_file = tmp_path / "m.keras"
    keras_file.write_bytes(b"PK")
    broken = Artifact.from_file(keras_file, Format.KERAS, onnx_artifact.input_spec)
    results = edgepress.bench([broken, onnx_artifact], settings=fast)
    assert results[0].error and "convert them first" in results[0].error
    assert results[1].ok


def test_mismatched_data_stops_before_work(onnx_artifact):
    with pytest.raises(DataError):
        edgepress.bench(onnx_artifact, data=np.zeros((2, 3, 8, 8), np.float32))


def test_latency_stats():
    s = LatencyStats.from_samples([1.0, 2.0, 3.0, 4.0])
    assert (s.min, s.max, s.n, s.mean) == (1.0, 4.0, 4, 2.5) and s.p50 == 2.5 and s.samples == [1.0, 2.0, 3.0, 4.0]


def test_result_round_trips(onnx_artifact, fast):
    (r,) = edgepress.bench(onnx_artifact, settings=fast)
    again = edgepress.BenchResult.from_dict(r.to_dict())
    assert again.to_dict() == r.to_dict()


def test_tail_tells_a_steady_run_from_a_preempted_one():
    steady = LatencyStats.from_samples([1.0, 1.02, 0.98, 1.01] * 10)
    spiky = LatencyStats.from_samples([1.0] * 30 + [5.0] * 10)  # a quarter of the runs preempted
    assert steady.tail < 1.1 and spiky.tail == pytest.approx(5.0)


def test_a_cpu_hog_flags_the_cells_noisy(onnx_artifact):
    """Busy loops on every core while the worker runs one thread per core: its runs are preempted."""
    import os
    import subprocess
    import sys

    from edgepress.targets.base import RunSettings

    cores = os.cpu_count() or 1
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        (r,) = edgepress.bench(onnx_artifact, settings=RunSettings(threads=cores, warmup=2, min_iters=300, min_seconds=1.0, max_seconds=10.0))
    finally:
        for hog in hogs:
            hog.kill()
    assert "noisy" in r.flags, (r.latency_ms.tail, r.contention)
    assert r.contention["preemptions_per_s"] > 40 * cores


def test_fewer_threads_than_cores_pins_the_worker(onnx_artifact, fast):
    import os

    (r,) = edgepress.bench(onnx_artifact, settings=fast)  # one thread
    if len(os.sched_getaffinity(0)) > 1:
        assert len(r.env["cpu_affinity"]) == 1 and r.env["cpu_affinity"][0] in os.sched_getaffinity(0)
    assert r.env["warmup_runs"] >= fast.warmup
