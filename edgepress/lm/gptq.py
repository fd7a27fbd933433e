"""GPTQ's rounding step (Frantar et al., 2022) for ONNX Runtime's GPTQ pass.

ONNX Runtime 1.32 ships a GPTQ pass (its bundled Neural Compressor code): it runs the model
on calibration data, accumulates each MatMul's Hessian and writes ``MatMulNBits``. Its
rounding step, though, propagates each column's error through the *column* of the upper
Cholesky factor below the diagonal, which is all zeros, so no error is ever compensated:
its output equals round-to-nearest, weight for weight (checked on the test model, and
``tests/lm/test_gptq.py`` shows it). Written by hand here: the same step with the error
propagated along the factor's *rows*, as in the paper; ONNX Runtime still does the
calibration, the Hessians and the packing (``replaced_rounding`` swaps this in for one pass).

Weights are ONNX MatMul weights, [input channels, output channels]: rows are what GPTQ
walks through, groups of ``group_size`` rows share a scale and zero point per column.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


@contextlib.contextmanager
def replaced_rounding() -> Iterator[None]:
    """ONNX Runtime's GPTQ pass with this rounding step in place of its own, for the duration of the block."""
    from onnxruntime.quantization.neural_compressor import weight_only

    theirs = weight_only.gptq
    weight_only.gptq = _as_theirs
    try:
        yield
    finally:
        weight_only.gptq = theirs


def _as_theirs(W: Any, H: Any, **options: Any) -> np.ndarray:  # noqa: N803  (ONNX Runtime's argument names)
    return gptq_rounding(W, H, **options)
