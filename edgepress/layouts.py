"""Feed each artifact its inputs in its own layout and dtype, so drift compares like with like.

PyTorch models are NCHW, Keras and TFLite kernels NHWC, and a converter may change a
model's input layout. Evaluation data comes in the reference model's layout; an
artifact whose InputSpec says otherwise gets its 4-D inputs transposed, and the result
records that it happened.

Converters may also narrow integer inputs: litert-torch writes a PyTorch model's int64
token ids as int32 inputs, since TFLite kernels index with int32. Such inputs are cast
to the dtype the artifact declares, after checking every value fits (an id past 2**31
would otherwise wrap to a different token without a word).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgepress.artifact import InputSpec
from edgepress.errors import DataError

if TYPE_CHECKING:
    import numpy as np

PERMUTATIONS = {("NCHW", "NHWC"): (0, 2, 3, 1), ("NHWC", "NCHW"): (0, 3, 1, 2)}


def adapt_inputs(arrays: tuple[np.ndarray, ...], data_layout: str | None, spec: InputSpec) -> tuple[list[np.ndarray], str | None]:
    """Transpose 4-D inputs from ``data_layout`` to the artifact's layout and cast integer inputs to its dtypes; say what was done."""
    import numpy as np

    notes = []
    adapted = list(arrays)
    perm = PERMUTATIONS.get((data_layout or "", spec.layout or ""))
    if perm is not None:
        adapted = [np.ascontiguousarray(a.transpose(perm)) if a.ndim == 4 else a for a in adapted]
        notes.append(f"inputs transposed {data_layout} -> {spec.layout}")
    adapted, cast = cast_integers(adapted, spec.dtypes, spec.names)
    if cast:
        notes.append(cast)
    return adapted, (" and ".join(notes) + " for this artifact") if notes else None


def cast_integers(arrays: Sequence[np.ndarray], dtypes: Sequence[str], names: Sequence[str] = ()) -> tuple[list[np.ndarray], str | None]:
    """Integer arrays cast to the integer ``dtypes`` declared for them; a value out of that type's range is a DataError.

    Example:
        >>> cast_integers([np.array([[3, 7]])], ["int32"])[1]
        'inputs cast int64 -> int32'
    """
    import numpy as np

    cast: list[np.ndarray] = []
    changes: list[str] = []
    for index, (array, dtype) in enumerate(zip(arrays, dtypes)):
        want = np.dtype(dtype)
        if array.dtype == want or array.dtype.kind not in "iu" or want.kind not in "iu":
            cast.append(array)
            continue
        _check_fits(array, want, names[index] if index < len(names) else f"input {index}")
        cast.append(array.astype(want))
        changes.append(f"{array.dtype} -> {want}")
    cast.extend(arrays[len(cast):])
    return cast, (f"inputs cast {', '.join(dict.fromkeys(changes))}" if changes else None)


def _check_fits(array: np.ndarray, dtype: np.dtype, name: str) -> None:
    import numpy as np

    info = np.iinfo(dtype)
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if low < info.min or high > info.max:
        raise DataError(
            f"input {name!r} holds values from {low} to {high}, but this artifact takes {dtype} ({info.min} to {info.max}); "
            f"re-number the ids to fit {dtype}, or run a format that takes {array.dtype}"
        )


def guess_layout(shape: Sequence[Any], prefer: str) -> str | None:
    """Image layout of a 4-D input: channel counts of 1, 3 or 4 decide; else ``prefer``."""
    if len(shape) != 4:
        return None
    channels_first = shape[1] in (1, 3, 4)
    channels_last = shape[3] in (1, 3, 4)
    if channels_first != channels_last:
        return "NCHW" if channels_first else "NHWC"
    return prefer
