"""GPTQ (Frantar et al., 2022) for INT4 ONNX weights, packed as ONNX Runtime's ``MatMulNBits``.

ONNX Runtime 1.32 ships a GPTQ pass (its bundled Neural Compressor code), but its rounding
step propagates each column's error through the *column* of the upper Cholesky factor
below the diagonal, which is all zeros: no error is ever compensated and its output equals
round-to-nearest, weight for weight (``tests/lm/test_gptq.py`` shows it). It also runs the
model once per calibration window and per MatMul input. Written by hand here, therefore:
the rounding step with the error spread along the factor's *rows*, as in the paper, and a
driver that collects every Hessian in one run per window; the packing is ONNX Runtime's.

Weights are ONNX MatMul weights, [input channels, output channels]: rows are what GPTQ
walks through, groups of ``group_size`` rows share a scale and zero point per column.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gptq_rounding(weight: np.ndarray, hessian: np.ndarray, num_bits: int = 4, group_size: int = 32, scheme: str = "asym",
                  blocksize: int = 128, percdamp: float = 0.01, actorder: bool = False, mse: bool = False, perchannel: bool = True) -> np.ndarray:
    """The GPTQ-rounded weight (float, on each group's grid) for ``weight`` [K, N] and its input Hessian [K, K]."""
    if actorder or mse or not perchannel:
        raise ValueError("this GPTQ step covers actorder=False, mse=False, perchannel=True (what edgepress asks for)")
    w = weight.astype(np.float64).copy()
    h = hessian.astype(np.float64).copy()
    rows = w.shape[0]
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[dead, :] = 0.0  # an input that never fires: its weights do not matter
    h[np.arange(rows), np.arange(rows)] += percdamp * np.mean(np.diag(h))
    upper = np.linalg.cholesky(np.linalg.inv(h)).T  # U with inv(H) = U^T U
    maxq = 2**num_bits - 1
    out = np.zeros_like(w)
    blocksize = max(blocksize, group_size) // group_size * group_size  # a group never spans two blocks
    scale = zero = np.zeros(w.shape[1])
    for start in range(0, rows, blocksize):
        end = min(start + blocksize, rows)
        block, errors = w[start:end].copy(), np.zeros((end - start, w.shape[1]))
        for i in range(end - start):
            row = start + i
            if i % group_size == 0:  # a group's grid comes from its rows as they are when it starts (earlier errors included)
                scale, zero = _grid(block[i: i + group_size], maxq, scheme)
            q = scale * (np.clip(np.round(block[i] / scale) + zero, 0, maxq) - zero)
            out[row] = q
            err = (block[i] - q) / upper[row, row]
            block[i:] -= np.outer(upper[row, row: end], err)  # this row's error, spread over the rows still to round
            errors[i] = err
        w[end:] -= upper[start:end, end:].T @ errors  # and over the blocks after this one
    return out.astype(weight.dtype)


def _grid(group: np.ndarray, maxq: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-column scale and zero point of a group of rows (the range always holds 0, as ONNX Runtime's packing assumes)."""
    lo, hi = np.minimum(group.min(axis=0), 0.0), np.maximum(group.max(axis=0), 0.0)
    if scheme == "sym":
        hi = np.maximum(np.abs(lo), hi)
        lo = np.where(lo < 0, -hi, lo)
    flat = (lo == 0) & (hi == 0)
    lo, hi = np.where(flat, -1.0, lo), np.where(flat, 1.0, hi)
    scale = (hi - lo) / maxq
    zero = np.full(scale.shape, (maxq + 1) / 2) if scheme == "sym" else np.round(-lo / scale)
    return scale, zero


def gptq_model(model: Any, feeds: list[dict[str, np.ndarray]], group_size: int, accuracy_level: int) -> Any:
    """Every float weight MatMul of ``model`` GPTQ-rounded to 4 bits and packed as ONNX Runtime's ``MatMulNBits``.

    The Hessians come from one run of the model per calibration feed with every MatMul input
    exposed. ONNX Runtime's own pass runs the model once per feed *and per input* (some
    120 inputs in SmolLM2: about 25 minutes where this takes a few); it packs with the same
    helpers used here (``quant_tensor``, ``make_matmul_weight_only_node``).
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from onnxruntime.quantization.neural_compressor.weight_only import make_matmul_weight_only_node, pad_tensor, quant_tensor

    weights = {i.name: i for i in model.graph.initializer}
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights and len(weights[n.input[1]].dims) == 2]
    inputs = sorted({n.input[0] for n in matmuls})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in inputs if name not in {o.name for o in probe.graph.output})
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    del probe
    hessians: dict[str, np.ndarray] = {}
    seen = 0
    for feed in feeds:
        for name, value in zip(inputs, session.run(inputs, feed)):
            rows = value.reshape(-1, value.shape[-1]).astype(np.float64)
            total = hessians.get(name, 0.0) * (seen / (seen + len(rows)))
            hessians[name] = total + (2.0 / (seen + len(rows))) * rows.T @ rows
        seen += len(value.reshape(-1, value.shape[-1]))  # tokens so far (every input sees the same tokens)
    del session
    for node in matmuls:
        weight = numpy_helper.to_array(weights[node.input[1]])
        rounded = gptq_rounding(weight, hessians[node.input[0]], group_size=group_size)
        blocks = (weight.shape[0] + group_size - 1) // group_size
        packed, scale, zero = quant_tensor(pad_tensor(rounded, group_size, blocks).T, 4, group_size, "asym", "uint")
        made, tensors = make_matmul_weight_only_node(node=node, weight_shape=weight.shape, num_bits=4, group_size=group_size, k_blocks=blocks,
                                                     q_weight=packed.astype("uint8"), scale=scale.astype(weight.dtype), zero_point=zero,
                                                     accuracy_level=accuracy_level)
        index = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(index, made)
        model.graph.initializer.extend(tensors)
        if sum(node.input[1] in n.input for n in model.graph.node) == 0:
            model.graph.initializer.remove(weights[node.input[1]])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return model
