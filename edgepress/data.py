"""Evaluation data: files, arrays, or seeded random inputs, checked against an InputSpec.

A ``.npz`` file holds the inputs as ``x`` (one-input models) or under each input's
name, and optional integer labels ``y``; a ``.npy`` file holds ``x`` alone. Arrays are
batch-first: ``x[i]`` is one sample.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress.artifact import InputSpec
from edgepress.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from edgepress.quantization import DataRef

DEFAULT_RANDOM_SAMPLES = 32


@dataclass(frozen=True)
class EvalData:
    """Inputs (one batch-first array per model input), optional labels, and provenance."""

    inputs: tuple[np.ndarray, ...]
    labels: np.ndarray | None = None
    random: bool = False
    layout: str | None = None  # the layout of the spec the inputs were checked against

    @property
    def count(self) -> int:
        return int(self.inputs[0].shape[0])


def load_file(path: str | Path, spec: InputSpec) -> EvalData:
    """Read a ``.npz`` / ``.npy`` file and check it against ``spec``."""
    import numpy as np

    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    with _opened(path) as loaded:
        if isinstance(loaded, np.ndarray):
            return from_arrays(loaded, None, spec)
        names = spec.names
        if len(names) == 1 and "x" in loaded.files:
            names = ("x",)
        elif not all(n in loaded.files for n in names):
            raise DataError(f"{path} has arrays {loaded.files}; expected 'x' or the input names {list(names)}")
        inputs = _read(path, loaded, tuple(names))
        labels = _read(path, loaded, ("y",))[0] if "y" in loaded.files else None
    return from_arrays(inputs, labels, spec)


@contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """``np.load`` without pickles; an unreadable file becomes a DataError that says why."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        # numpy raises EOFError for an empty file; uncaught, click reads it as Ctrl-D ("Aborted.")
        raise DataError(_unreadable(path, exc)) from None
    if isinstance(loaded, np.ndarray):
        yield loaded
        return
    with loaded:
        yield loaded


def _read(path: Path, loaded: Any, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The named arrays of an open ``.npz`` (each is read, and may fail, only here)."""
    try:
        return tuple(loaded[n] for n in names)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(_unreadable(path, exc)) from None


def _unreadable(path: Path, exc: BaseException) -> str:
    if "Object arrays" in str(exc):
        return f"{path} holds a Python-object array, which edgepress does not load (unpickling can run code); save numeric arrays with numpy.savez"
    if isinstance(exc, EOFError) or (path.is_file() and path.stat().st_size == 0):
        return f"{path} is empty (0 bytes); expected a .npz or .npy file written by numpy.savez or numpy.save"
    if "pickled" in str(exc):  # numpy's guess for a file that is neither .npz nor .npy
        return f"{path} is not a readable .npz/.npy file (it is neither a numpy zip nor a .npy array); write it with numpy.savez or numpy.save"
    return f"{path} is not a readable .npz/.npy file: {exc}"


def from_arrays(inputs: Any, labels: Any, spec: InputSpec) -> EvalData:
    """Check user arrays (one array, or one per input) against ``spec`` and wrap them."""
    import numpy as np

    arrays = tuple(np.asarray(a) for a in (inputs if isinstance(inputs, (tuple, list)) else (inputs,)))
    if len(arrays) != len(spec.tensors):
        raise DataError(f"the model takes {len(spec.tensors)} input(s) {list(spec.names)}; the data has {len(arrays)}")
    checked = tuple(_check_input(a, t) for a, t in zip(arrays, spec.tensors))
    if len({a.shape[0] for a in checked}) != 1:
        raise DataError("all input arrays must have the same number of samples (dimension 0)")
    return EvalData(checked, _check_labels(labels, checked[0].shape[0]), layout=spec.layout)


RANDOM_LENGTH = 8  # a dynamic non-batch dimension's size in random inputs (1 falls below most ranges)


def random_inputs(spec: InputSpec, count: int = DEFAULT_RANDOM_SAMPLES, seed: int = 0, sizes: dict[tuple[int, int], int] | None = None) -> EvalData:
    """Seeded standard-normal inputs (integers in [0, 10) for integer inputs).

    A dynamic dimension other than the batch gets ``sizes[(input, axis)]`` (a size inside the
    model's range, where the caller knows it), else ``RANDOM_LENGTH``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = []
    for index, tensor in enumerate(spec.tensors):
        dims = [d if isinstance(d, int) else (sizes or {}).get((index, axis), RANDOM_LENGTH) for axis, d in enumerate(tensor.shape)]
        shape = (count, *dims[1:])
        if np.dtype(tensor.dtype).kind in "iu":
            arrays.append(rng.integers(0, 10, size=shape).astype(tensor.dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(tensor.dtype))
    return EvalData(tuple(arrays), None, random=True, layout=spec.layout)


def _check_input(array: np.ndarray, tensor: Any) -> np.ndarray:
    import numpy as np

    expected = tensor.shape[1:]
    found = array.shape[1:]
    fits = len(found) == len(expected) and all(isinstance(e, str) or e == f for e, f in zip(expected, found))
    if array.ndim == 0 or not fits:
        want = "x".join(str(d) for d in ("N", *expected))
        raise DataError(f"input {tensor.name!r} expects samples shaped {want}; the data is shaped {'x'.join(map(str, array.shape))}")
    if array.shape[0] == 0:
        raise DataError(f"input {tensor.name!r}: the data holds no samples")
    want_dtype = np.dtype(tensor.dtype)
    if array.dtype != want_dtype and not np.can_cast(array.dtype, want_dtype, casting="same_kind"):
        raise DataError(f"input {tensor.name!r} expects {want_dtype}; the data is {array.dtype}")
    if array.dtype.kind in "iu" and want_dtype.kind in "iu":  # token ids for an int32 .tflite: refuse ids that would wrap
        from edgepress.layouts import cast_integers

        array = cast_integers([array], [want_dtype.name], [tensor.name])[0][0]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported by _check_finite
        cast = np.ascontiguousarray(array.astype(want_dtype, copy=False))
    return _check_finite(cast, f"input {tensor.name!r}")


def _check_finite(array: np.ndarray, what: str) -> np.ndarray:
    """Refuse NaN or infinite inputs: drift, accuracy and calibration ranges would all be NaN."""
    import numpy as np

    if array.dtype.kind not in "fc":
        return array
    bad = ~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"{what}: {int(bad.sum())} of {array.shape[0]} samples hold NaN or infinite values as {array.dtype} (the first is sample {first}); "
            "edgepress measures and calibrates on finite numbers only: fix or drop those samples"
        )
    return array


def _check_labels(labels: Any, count: int) -> np.ndarray | None:
    import numpy as np

    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != count:
        raise DataError(f"labels must be one integer per sample ({count}); got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"labels must be integers (class indices); got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise DataError(f"labels must be class indices 0, 1, 2, ...; sample {int(labels.argmin())} has label {int(labels.min())}")
    return labels


def check_label_classes(labels: np.ndarray | None, logits: np.ndarray) -> None:
    """Refuse labels beyond the model's classes (accuracy would read 0% without saying why).

    ``logits`` is the model's first output, ``samples x classes``; other outputs have no classes to check.
    """
    classes = label_classes_exceeded(labels, logits)
    if classes is not None and labels is not None:
        raise DataError(
            f"labels go up to {int(labels.max())}, but the model's first output has {classes} classes (0 to {classes - 1}); "
            "labels y must be class indices of that output"
        )


def label_classes_exceeded(labels: np.ndarray | None, logits: np.ndarray) -> int | None:
    """The class count of a classifier output that some label is out of range for, else None."""
    import numpy as np

    logits = np.asarray(logits)
    if labels is None or not labels.size or logits.ndim != 2 or logits.shape[1] < 2:
        return None
    return int(logits.shape[1]) if int(labels.max()) >= logits.shape[1] else None


def training_arrays(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labelled training data as ``(x, y)`` numpy arrays, from what users have at hand.

    Accepts an ``(x, y)`` pair (numpy arrays or torch tensors), a ``.npz`` path holding
    ``x`` and ``y``, or an iterable of ``(x, y)`` batches such as a torch ``DataLoader``.

    Example:
        >>> x, y = training_arrays("train.npz")
    """
    import numpy as np

    if isinstance(data, (str, Path)):
        return _npz_training_arrays(Path(data))
    if isinstance(data, tuple) and len(data) == 2:
        return _check_training(_as_numpy(data[0]), _as_numpy(data[1]))
    if hasattr(data, "__iter__") and not isinstance(data, (np.ndarray, list, dict)):
        batches = [(_as_numpy(b[0]), _as_numpy(b[1])) for b in data]
        if not batches:
            raise DataError("the training data loader yielded no batches")
        return _check_training(np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    raise DataError(f"training data must be (x, y) arrays, a .npz path with x and y, or a DataLoader; got {type(data).__name__}")


def _npz_training_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    if not path.exists():
        raise DataError(f"training data file {path} does not exist")
    with _opened(path) as loaded:
        files = [] if isinstance(loaded, np.ndarray) else loaded.files
        if not {"x", "y"} <= set(files):
            raise DataError(f"{path} has arrays {files or ['(one .npy array)']}; training data needs 'x' (inputs) and 'y' (integer labels)")
        x, y = _read(path, loaded, ("x", "y"))
    return _check_training(x, y)


def _as_numpy(value: Any) -> np.ndarray:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _check_training(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError("the training data holds no samples")
    import numpy as np

    return _check_finite(np.asarray(x), "the training inputs x"), np.asarray(_check_labels(y, int(x.shape[0])))


def calibration_data(data: Any, spec: InputSpec, count: int | None = None, seed: int = 0) -> EvalData:
    """Calibration or evaluation inputs (and labels, if any) from what users have at hand.

    Accepts an ``EvalData``, a ``.npz``/``.npy`` path, a numpy array or torch tensor of
    inputs, an ``(x, y)`` pair, or an iterable of batches (``(x, y)`` tuples or bare
    ``x``) such as a torch ``DataLoader`` or a ``tf.data.Dataset``. With ``count``, a
    seeded random subset of that many samples is kept, so every backend sees the same data.

    Example:
        >>> calib = calibration_data(x_train, art.input_spec, count=128)
    """
    loaded = _any_data(data, spec)
    if count is not None and count < loaded.count:
        import numpy as np

        if count < 1:
            raise DataError(f"the calibration sample count must be at least 1, got {count}")
        keep = np.sort(np.random.default_rng(seed).choice(loaded.count, size=count, replace=False))
        labels = None if loaded.labels is None else loaded.labels[keep]
        return EvalData(tuple(a[keep] for a in loaded.inputs), labels, layout=loaded.layout)
    return loaded


def _any_data(data: Any, spec: InputSpec) -> EvalData:
    import numpy as np

    if isinstance(data, EvalData):
        return data
    if isinstance(data, (str, Path)):
        return load_file(data, spec)
    if isinstance(data, tuple) and len(data) == 2 and not _is_input_tuple(data, spec):
        return from_arrays(_as_numpy(data[0]), _as_numpy(data[1]), spec)
    if isinstance(data, np.ndarray) or hasattr(data, "detach"):
        return from_arrays(_as_numpy(data), None, spec)
    if hasattr(data, "__iter__") and not isinstance(data, dict):
        return _from_batches(list(data), spec)
    raise DataError(
        f"data must be arrays, an (x, y) pair, a .npz/.npy path, or an iterable of batches (DataLoader, tf.data); got {type(data).__name__}"
    )


def _is_input_tuple(data: tuple[Any, Any], spec: InputSpec) -> bool:
    """A 2-input model's (a, b) inputs, rather than an (x, y) pair of inputs and labels."""
    return len(spec.tensors) == 2 and _as_numpy(data[1]).ndim == len(spec.tensors[1].shape)


def _from_batches(batches: list[Any], spec: InputSpec) -> EvalData:
    import numpy as np

    if not batches:
        raise DataError("the data yielded no batches; calibration and evaluation need at least one sample")
    paired = [isinstance(b, (tuple, list)) and len(b) == 2 and not _is_input_tuple(tuple(b), spec) for b in batches]
    if all(paired):
        x = np.concatenate([_as_numpy(b[0]) for b in batches])
        return from_arrays(x, np.concatenate([_as_numpy(b[1]) for b in batches]), spec)
    if any(paired):
        raise DataError("the batches mix (x, y) pairs and bare inputs; yield one kind")
    return from_arrays(np.concatenate([_as_numpy(b) for b in batches]), None, spec)


# -- calibration samples, stored once by content for every backend ----------------------

# Measured on MobileNetV2 (ONNX static INT8, 99.99th percentile, top-1 agreement with FP32 on
# the confident crops of two 500-crop sets): 128 samples 96.7% / 96.9%, 256 98.6% / 98.7%,
# 300 98.6% / 99.1%, 512 98.6% / 97.8%. Streamed calibration made 256 cost 18 s there.
DEFAULT_CALIBRATION_SAMPLES = 256


def calibration_inputs(data: Any, spec: InputSpec, count: int = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0) -> EvalData:
    """Checked calibration samples; seeded random inputs (flagged ``random``) when ``data`` is None or ""."""
    if data is None or data == "":
        return random_inputs(spec, min(count, DEFAULT_RANDOM_SAMPLES), seed)
    return calibration_data(data, spec, count, seed)


def store_inputs(data: EvalData, spec: InputSpec) -> DataRef:
    """Write the inputs to ``<cache>/calibration/<sha256>.npz`` (atomically; reused if present).

    The file reads back with ``load_file`` too (``x``, or one array per input name). The
    folder is bounded (``cachedir.BOUNDS``): storing a new file removes the least recently
    used ones past the bound.
    """
    import hashlib
    import os
    import tempfile

    import numpy as np

    from edgepress import cachedir
    from edgepress.quantization import DataRef

    digest = hashlib.sha256()
    for array in data.inputs:
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    path = cachedir.part("calibration") / f"{digest.hexdigest()[:32]}.npz"
    ref = DataRef(str(path), data.count, data.random)
    if path.exists():
        cachedir.used(path)
        return ref
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".calib-", suffix=".npz", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        names = ("x",) if len(data.inputs) == 1 else spec.names
        np.savez(handle, **dict(zip(names, data.inputs)))
    os.replace(tmp, path)
    cachedir.bound("calibration", keep=path)
    return ref


def stored_inputs(ref: DataRef) -> tuple[np.ndarray, ...]:
    """The input arrays ``store_inputs`` wrote, in input order."""
    import numpy as np

    from edgepress.errors import ConversionError

    if not Path(ref.path).exists():  # the cache was cleared, or its bound removed the file, since the model was quantized
        raise ConversionError(f"the calibration samples {ref.path} are no longer in the edgepress cache; quantize the model again")
    with np.load(ref.path, allow_pickle=False) as loaded:
        return tuple(loaded[name] for name in loaded.files)


def batches(inputs: tuple[np.ndarray, ...], batch: int = 1) -> Iterator[tuple[np.ndarray, ...]]:
    """Tuples of ``batch`` samples (edge programs are exported with batch 1; a model saved at a
    fixed batch takes only that one, so a short last chunk repeats its last sample)."""
    from edgepress.targets.measure_worker import fill_batch

    for i in range(0, int(inputs[0].shape[0]), batch):
        yield tuple(fill_batch([a[i : i + batch] for a in inputs], batch))


def arrays_label(*arrays: Any) -> str:
    """How a pass option names in-memory training arrays: by content, so lineage lines tell data sets apart."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return f"<arrays sha256:{digest.hexdigest()[:16]}>"
