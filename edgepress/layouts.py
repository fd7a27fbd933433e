"""Image layouts: feed each artifact its inputs in its own layout, so drift compares like with like.

PyTorch models are NCHW, Keras and TFLite kernels NHWC, and a converter may change a
model's input layout. Evaluation data comes in the reference model's layout; an
artifact whose InputSpec says otherwise gets its 4-D inputs transposed, and the result
records that it happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgepress.artifact import InputSpec

if TYPE_CHECKING:
    import numpy as np

PERMUTATIONS = {("NCHW", "NHWC"): (0, 2, 3, 1), ("NHWC", "NCHW"): (0, 3, 1, 2)}


def adapt_inputs(arrays: tuple[np.ndarray, ...], data_layout: str | None, spec: InputSpec) -> tuple[list[np.ndarray], str | None]:
    """Transpose 4-D inputs from ``data_layout`` to the artifact's layout; say what was done."""
    import numpy as np

    perm = PERMUTATIONS.get((data_layout or "", spec.layout or ""))
    if perm is None:
        return list(arrays), None
    adapted = [np.ascontiguousarray(a.transpose(perm)) if a.ndim == 4 else a for a in arrays]
    return adapted, f"inputs transposed {data_layout} -> {spec.layout} for this artifact"
