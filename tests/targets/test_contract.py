"""The contract every target kind in the registry keeps, checked over ``TARGET_KINDS``.

A new target (a board, an accelerator) joins the registry and gets these checks for free:
it says whether it can run here without raising, gives every Format a runtime or a
reason, keeps its name through ``resolve``, and either measures or refuses with an
edgepress error, never runs somewhere else under its own name.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgepress.artifact import Format
from edgepress.errors import BadInputError, EdgepressError
from edgepress.targets.base import TARGET_KINDS, RunSettings, Target, resolve

# A concrete spec per kind: the ssh kind needs an address to have a name that resolves back
# (a closed port on loopback: unreachable, so it must refuse cleanly).
SPECS = {kind: kind for kind in TARGET_KINDS} | {"ssh": "ssh://nobody@127.0.0.1:9"}
FAST = RunSettings(threads=1, warmup=1, min_iters=2, min_seconds=0.0)


@pytest.fixture(params=sorted(TARGET_KINDS))
def target(request: pytest.FixtureRequest) -> Target:
    return resolve(SPECS[request.param])


def test_every_kind_has_a_spec_here() -> None:
    assert set(SPECS) == set(TARGET_KINDS)


def test_a_target_is_a_target_and_says_whether_it_runs_here(target: Target) -> None:
    assert isinstance(target, Target)
    reason = target.unavailable_reason()  # must not raise, whatever this machine lacks
    assert reason is None or (isinstance(reason, str) and reason.strip())


def test_every_format_gets_a_runtime_or_a_reason(target: Target) -> None:
    for fmt in Format:
        reason = target.format_reason(fmt)
        assert reason is None or (isinstance(reason, str) and reason.strip()), (target.name, fmt)


def test_the_name_resolves_back_to_the_same_target(target: Target) -> None:
    again = resolve(target.name)
    assert type(again) is type(target) and again.name == target.name


def test_an_unusable_target_refuses_with_an_edgepress_error(target: Target, onnx_artifact) -> None:
    if target.unavailable_reason() is None:
        pytest.skip(f"{target.name} runs here: measured by its own tests")
    inputs = [np.zeros((1, *onnx_artifact.input_spec.tensors[0].shape[1:]), np.float32)]
    with pytest.raises(EdgepressError):
        target.load(onnx_artifact)
    with pytest.raises(EdgepressError):
        target.measure(onnx_artifact, inputs, FAST)


def test_host_cpu_loads_and_measures_the_same_outputs(onnx_artifact) -> None:
    target = resolve("host-cpu")
    x = np.random.default_rng(0).standard_normal((3, *onnx_artifact.input_spec.tensors[0].shape[1:])).astype(np.float32)
    in_process = target.load(onnx_artifact)([x])
    measured = target.measure(onnx_artifact, [x], FAST)
    assert measured.raw["samples_ms"] and len(measured.outputs) == len(in_process)
    np.testing.assert_allclose(measured.outputs[0], in_process[0], atol=1e-5)


@pytest.mark.parametrize("spec", ["nowhere", "ssh://[::1", "ssh://me@host:99999", "arm64:cortex-a76"])
def test_a_bad_target_name_is_bad_input(spec: str) -> None:
    with pytest.raises(BadInputError):
        resolve(spec)
