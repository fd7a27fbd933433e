"""GPTQ's rounding step against round-to-nearest, and ONNX Runtime's own step (which compensates nothing)."""

from __future__ import annotations

import numpy as np
import pytest

from edgepress.lm.gptq import _grid, _minmax_grid, gptq_rounding


def _problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A weight [K=128, N=24] and correlated inputs (as activations are), with their Hessian."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(128, 128)) * 0.3 + np.eye(128)
    x = rng.normal(size=(2048, 128)) @ mixing
    w = rng.normal(size=(128, 24)).astype(np.float32)
    return w, x, 2 * x.T @ x / len(x)


def _rtn(w: np.ndarray, group: int) -> np.ndarray:
    """Round to nearest on a min..max grid, as ONNX Runtime's RTN does."""
    out = np.empty_like(w, dtype=np.float64)
    for start in range(0, len(w), group):
        scale, zero = _minmax_grid(w[start: start + group].astype(np.float64), 15)
        out[start: start + group] = scale * (np.clip(np.round(w[start: start + group] / scale) + zero, 0, 15) - zero)
    return out


@pytest.mark.parametrize("group", [32, 128])
def test_gptq_lowers_the_output_error_and_stays_on_a_4_bit_grid(group):
    w, x, h = _problem()
    q = gptq_rounding(w, h, group_size=group)
    error_gptq, error_rtn = (np.linalg.norm(x @ (r - w)) for r in (q, _rtn(w, group)))
    assert error_gptq < 0.8 * error_rtn, (error_gptq, error_rtn)
    for start in range(0, len(w), group):
        assert max(len(np.unique(np.round(q[start: start + group, c], 5))) for c in range(w.shape[1])) <= 16


def test_the_searched_grid_never_rounds_worse_than_min_max_and_often_better():
    rng = np.random.default_rng(3)
    group = rng.normal(size=(32, 16))
    importance = rng.uniform(0.5, 2.0, size=32)

    def error(scale, zero):
        codes = np.clip(np.round(group / scale) + zero, 0, 15)
        return (importance[:, None] * (group - scale * (codes - zero)) ** 2).sum(axis=0)

    searched, plain = error(*_grid(group, 15, importance)), error(*_minmax_grid(group, 15))
    assert np.all(searched <= plain + 1e-12)
    assert (searched < plain).sum() >= 4 and searched.sum() < 0.97 * plain.sum(), (searched, plain)
    assert np.all(_grid(group, 15, importance)[1] <= 15) and np.all(_grid(group, 15, importance)[1] >= 0)


def test_onnx_runtimes_own_gptq_step_is_round_to_nearest():
    """Why edgepress.lm.gptq exists: if this fails, ONNX Runtime fixed its step and the replacement can go."""
    from onnxruntime.quantization.neural_compressor.weight_only import gptq

    w, _, h = _problem(1)
    theirs = gptq(w.copy(), h.copy(), num_bits=4, group_size=32, scheme="asym", blocksize=128, percdamp=0.01, actorder=False, mse=False, perchannel=True)
    assert np.allclose(theirs, _rtn(w, 32), atol=1e-5)
    assert not np.allclose(gptq_rounding(w, h, group_size=32), theirs, atol=1e-5)


@pytest.mark.parametrize("group", [32, 128])
def test_gptq_packs_matmulnbits_that_onnx_runtime_runs_as_the_rounded_weights(group):
    """K = 320 gives an odd block count at group 128 (three blocks: the case ONNX Runtime's packing helper gets wrong)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from edgepress.lm.gptq import gptq_model

    rng = np.random.default_rng(2)
    w = rng.normal(size=(320, 40)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 320])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 40])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = (rng.normal(size=(256, 320)) @ (np.eye(320) + 0.3 * rng.normal(size=(320, 320)))).astype(np.float32)
    quantized = gptq_model(model, [{"x": x[:128]}, {"x": x[128:]}], group, accuracy_level=0)
    assert [n.op_type for n in quantized.graph.node] == ["MatMulNBits"] and not [i for i in quantized.graph.initializer if i.name == "w"]
    got = ort.InferenceSession(quantized.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    expected = x @ gptq_rounding(w, 2 * x.T.astype(np.float64) @ x / len(x), group_size=group)
    assert np.abs(got - expected).max() < 1e-3 * np.abs(expected).max()
    assert np.linalg.norm(got - x @ w) < np.linalg.norm(x @ _rtn(w, group) - x @ w)
