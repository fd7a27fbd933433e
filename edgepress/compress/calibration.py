"""Calibration data shared by every backend: stored once by content, read by each quantizer.

Quantizing a PyTorch model is recorded on its handle and applied when each format is
made, often in a converter child process; the calibration samples therefore live in a
content-addressed ``.npz`` under the edgepress cache, so every backend (ONNX Runtime,
ExecuTorch's XNNPACK quantizer, litert-torch) calibrates on exactly the same samples.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress.artifact import InputSpec
from edgepress.data import EvalData, calibration_data, random_inputs

if TYPE_CHECKING:
    import numpy as np

DEFAULT_SAMPLES = 128


def prepare(data: Any, spec: InputSpec, count: int = DEFAULT_SAMPLES, seed: int = 0) -> EvalData:
    """Checked calibration samples; seeded random inputs (flagged ``random``) when ``data`` is None."""
    if data is None or data == "":
        return random_inputs(spec, min(count, 32), seed)
    return calibration_data(data, spec, count, seed)


def store(data: EvalData, spec: InputSpec) -> Path:
    """Write the inputs to ``<cache>/calibration/<sha256>.npz`` (atomically; reused if present).

    The file reads back with ``edgepress.data.load_file`` (``x``, or one array per input name).
    The folder is bounded (``cachedir.BOUNDS``): storing a new file removes the least
    recently used ones past the bound.
    """
    import numpy as np

    from edgepress import cachedir

    digest = hashlib.sha256()
    for array in data.inputs:
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    path = cachedir.part("calibration") / f"{digest.hexdigest()[:32]}.npz"
    if path.exists():
        cachedir.used(path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".calib-", suffix=".npz", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        names = ("x",) if len(data.inputs) == 1 else spec.names
        np.savez(handle, **dict(zip(names, data.inputs)))
    os.replace(tmp, path)
    cachedir.bound("calibration", keep=path)
    return path


def load(path: str | Path) -> tuple[np.ndarray, ...]:
    """The input arrays written by ``store``, in input order."""
    import numpy as np

    from edgepress.errors import ConversionError

    if not Path(path).exists():  # the cache was cleared, or its bound removed the file, since the model was quantized
        raise ConversionError(f"the calibration samples {path} are no longer in the edgepress cache; quantize the model again")
    with np.load(path, allow_pickle=False) as loaded:
        return tuple(loaded[name] for name in loaded.files)


def samples(inputs: tuple[np.ndarray, ...], batch: int = 1) -> Iterator[tuple[np.ndarray, ...]]:
    """Tuples of ``batch`` samples (edge programs are exported with batch 1; a model saved at a
    fixed batch takes only that one, so a short last chunk repeats its last sample)."""
    from edgepress.targets.measure_worker import fill_batch

    for i in range(0, int(inputs[0].shape[0]), batch):
        yield tuple(fill_batch([a[i : i + batch] for a in inputs], batch))


def ort_reader(inputs: tuple[np.ndarray, ...], names: tuple[str, ...], batch: int = 1) -> Any:
    """An ONNX Runtime ``CalibrationDataReader`` over the samples in ``batch``-sized chunks, feeding inputs by name."""
    from onnxruntime.quantization import CalibrationDataReader

    class ArrayReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = samples(inputs, batch)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else dict(zip(names, batch))

        def rewind(self) -> None:
            self._it = samples(inputs)

    return ArrayReader()
