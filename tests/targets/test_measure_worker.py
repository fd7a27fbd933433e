"""The timing loop: the runtime's inference call is timed alone, the host conversion apart."""

from __future__ import annotations

import time

import numpy as np
import pytest

import edgepress
from edgepress.targets import measure_worker
from edgepress.targets.host_cpu import HostCpu

SLOW_HOST_SIDE_S = 0.02


@pytest.fixture(scope="module")
def tflite_int8(torch_model, tmp_path_factory):
    """The tiny CNN as a full-integer TFLite file (int8 input and output), calibrated on 8 samples."""
    x = np.random.default_rng(0).standard_normal((8, *torch_model.input_spec.tensors[0].shape[1:])).astype(np.float32)
    q = edgepress.quantize(torch_model, "int8", calibration=x)
    (made,) = edgepress.convert(q, ["tflite"], out_dir=tmp_path_factory.mktemp("int8"))
    from ai_edge_litert.interpreter import Interpreter

    assert Interpreter(model_path=str(made.path)).get_input_details()[0]["dtype"] == np.int8
    return made


def _slow_host_side_runner() -> measure_worker.Runner:
    """A runner whose host conversion takes 20 ms and whose inference is a numpy sum."""

    def prepare(arrays):
        time.sleep(SLOW_HOST_SIDE_S)
        return arrays

    return measure_worker.Runner(prepare, lambda arrays: [a.sum(axis=1) for a in arrays], list)


def test_steady_state_times_the_inference_call_and_io_apart():
    run = _slow_host_side_runner()
    feed = [np.ones((2, 64), dtype=np.float32)]
    samples = measure_worker.steady_state(run, feed, warmup=1, min_iters=5, min_seconds=0.0, max_seconds=5.0)
    io = measure_worker.io_samples(run, feed, 3, max_seconds=5.0)
    assert len(samples) >= 5 and sorted(samples)[len(samples) // 2] < 1000 * SLOW_HOST_SIDE_S / 2  # the 20 ms preparation is outside
    assert len(io) == 3 and min(io) >= 1000 * SLOW_HOST_SIDE_S  # ... and inside the io timing
    assert run(feed)[0].tolist() == [64.0, 64.0]  # called whole, it runs all three steps


def test_an_int8_tflite_is_timed_on_int8_inputs(tflite_int8, fast):
    """The worker quantizes the float input once, before the loop: the loop is invoke() alone."""
    x = [np.random.default_rng(0).standard_normal((3, *tflite_int8.input_spec.tensors[0].shape[1:])).astype(np.float32)]
    m = HostCpu().measure(tflite_int8, x, fast)
    assert len(m.raw["samples_ms"]) >= fast.min_iters and len(m.raw["io_samples_ms"]) == len(m.raw["samples_ms"])
    assert "inference call" in m.raw["env"]["timing"]
    run, _, _ = measure_worker.load_runner("tflite", str(tflite_int8.path), 1)
    feed = measure_worker.fill_batch(x, 1)
    split = run.finish(run.invoke(run.prepare(feed)))
    assert np.array_equal(split[0], run(feed)[0]) and split[0].dtype == np.float32  # dequantized back to float


def test_the_environment_names_the_int8_instructions():
    facts = measure_worker.cpu_facts()
    assert set(facts["int8_features"]) <= set(measure_worker.INT8_FEATURES.values())
    assert all(flag in facts.get("flags", []) for flag, name in measure_worker.INT8_FEATURES.items() if name in facts["int8_features"])
