import sys

import numpy as np
import pytest

from edgepress.errors import BadInputError, RuntimeFailure, UnknownNameError
from edgepress.targets.base import known_targets, resolve
from edgepress.targets.host_cpu import HostCpu
from edgepress.targets.launch import describe_exit, run_worker


def _inputs(n=3):
    return [np.random.default_rng(0).standard_normal((n, 3, 16, 16)).astype(np.float32)]


def test_measure_follows_the_protocol(onnx_artifact, fast):
    m = HostCpu().measure(onnx_artifact, _inputs(), fast)
    raw = m.raw
    assert raw["init_ms"] > 0 and raw["first_inference_ms"] > 0
    assert len(raw["samples_ms"]) >= fast.min_iters and all(s > 0 for s in raw["samples_ms"])
    assert raw["peak_rss_bytes"] >= raw["rss_before_load_bytes"] > 0
    assert raw["env"]["runtime"] == "onnxruntime" and raw["env"]["cpu"]["logical_cores"] >= 1
    assert m.outputs[0].shape == (3, 10)


def test_load_gives_an_in_process_callable(onnx_artifact):
    run = HostCpu().load(onnx_artifact)
    assert run(_inputs(2))[0].shape == (2, 10)


def test_a_runtime_killed_by_a_signal_is_reported(onnx_artifact, fast):
    suicide = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]
    with pytest.raises(RuntimeFailure, match="SIGILL"):
        run_worker(suicide, onnx_artifact, _inputs(), fast)


def test_a_hung_runtime_is_stopped(onnx_artifact, fast):
    from dataclasses import replace

    hang = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(RuntimeFailure, match="did not finish within 1 s"):
        run_worker(hang, onnx_artifact, _inputs(), replace(fast, timeout_s=1))


def test_describe_exit():
    assert "SIGSEGV" in describe_exit(-11) and "SIGILL" in describe_exit(132)
    assert describe_exit(3) == "the runtime exited with status 3"


def test_target_names_resolve_with_did_you_mean():
    assert resolve("host-cpu").name == "host-cpu"
    with pytest.raises(UnknownNameError, match="did you mean 'host-cpu'"):
        resolve("host-cpy")
    with pytest.raises(BadInputError):
        resolve("host-cpu:fast")
    assert "host-cpu" in [t.name for t in known_targets()]
