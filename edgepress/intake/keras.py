"""Keras intake: Keras 3 and tf-keras (Keras 2) models, in memory or from files.

The two flavours live side by side (``import keras`` is Keras 3, ``import tf_keras`` is
Keras 2), and which one a model is decides what works: TF-MOT only handles tf-keras,
tf2onnx's ``from_keras`` only converts tf-keras (Keras 3 goes through its frozen inference
function, see ``converters.onnx``). ``tf.keras`` is never used:
its meaning flips with ``TF_USE_LEGACY_KERAS``.

Files: ``.keras`` (loaded with ``safe_mode=True``), tf-keras ``.h5`` (refused when it
holds Lambda layers, whose code would run on load) and tf-keras SavedModel folders.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec, sha256_of_files
from edgepress.errors import BadInputError, ModelLoadError

KERAS3 = "keras3"
TF_KERAS = "tf_keras"

# TensorFlow logs every CUDA probe and CPU feature at import; keep edgepress's output clean.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class KerasModel:
    """A Keras model and its flavour: ``keras3`` or ``tf_keras``."""

    model: Any
    flavor: str


def flavor_of(model: Any) -> str:
    """``keras3`` or ``tf_keras`` from the model class's top-level package."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".")[0]
        if root == "keras":
            return KERAS3
        if root == "tf_keras":
            return TF_KERAS
    raise BadInputError(f"{type(model).__name__} is not a Keras model (neither keras nor tf_keras)")


def from_keras(model: Any, *, name: str = "model") -> Artifact:
    """Wrap a built Keras 3 or tf-keras model as an in-memory artifact.

    Example:
        >>> art = edgepress.from_keras(keras_model)
        >>> art.input_spec.layout
        'NHWC'
    """
    flavor = flavor_of(model)
    spec = keras_input_spec(model)
    weights = b"".join(w.tobytes() for w in model.get_weights())
    import hashlib

    digest = hashlib.sha256(flavor.encode() + model.to_json().encode() + weights).hexdigest()
    return Artifact(Format.KERAS, None, digest, len(weights), spec, report={"name": name, "keras_flavor": flavor}, model=KerasModel(model, flavor))


def load_keras(path: Path) -> Artifact:
    """Load a ``.keras`` / ``.h5`` file or a tf-keras SavedModel folder."""
    flavor = file_flavor(path)
    model = _load(path, flavor)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    art = Artifact(
        Format.KERAS, path, sha256_of_files(files), sum(f.stat().st_size for f in files), keras_input_spec(model),
        report={"keras_flavor": flavor}, model=KerasModel(model, flavor),
    )
    return art


def file_flavor(path: Path) -> str:
    """Which Keras wrote ``path``, read from the file's own metadata."""
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ModelLoadError(f"{path} is a folder without saved_model.pb: not a SavedModel")
        if not (path / "keras_metadata.pb").exists():
            raise ModelLoadError(f"{path} is a SavedModel without Keras metadata; edgepress reads tf-keras SavedModels, .keras and .h5 files")
        return TF_KERAS
    if path.suffix == ".h5":
        return TF_KERAS
    try:
        with zipfile.ZipFile(path) as archive:
            version = json.loads(archive.read("metadata.json")).get("keras_version", "3")
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise ModelLoadError(f"{path} is not a .keras archive (a zip with metadata.json)") from None
    return TF_KERAS if str(version).startswith("2.") else KERAS3


def keras_input_spec(model: Any) -> InputSpec:
    """Input names and shapes (None -> dynamic ``batch``); image inputs are NHWC in Keras."""
    from edgepress.layouts import guess_layout

    tensors = []
    for index, tensor in enumerate(model.inputs):
        shape = tuple("batch" if (d is None and i == 0) else (f"d{i}" if d is None else int(d)) for i, d in enumerate(tensor.shape))
        name = getattr(tensor, "name", None) or f"input_{index}"
        tensors.append(TensorSpec(name.split(":")[0], shape, _dtype_name(tensor.dtype)))
    layout = guess_layout(tensors[0].shape, prefer="NHWC") if tensors else None
    return InputSpec(tuple(tensors), layout)


def _load(path: Path, flavor: str) -> Any:
    if flavor == TF_KERAS and path.suffix == ".h5":
        _refuse_h5_lambdas(path)
    try:
        if flavor == KERAS3:
            import keras

            return keras.models.load_model(path, safe_mode=True, compile=False)
        import tf_keras

        kwargs = {"safe_mode": True} if path.suffix == ".keras" else {}
        with _tfmot_scope(path):
            return tf_keras.models.load_model(path, compile=False, **kwargs)
    except Exception as exc:  # each Keras raises its own types for damaged files
        if "Lambda" in str(exc) and "safe_mode" in str(exc):  # Keras's refusal is a paragraph; say it in one line
            raise ModelLoadError(f"{path} holds Lambda layers whose Python code would run on load, which safe mode refuses; replace them with built-in or registered custom layers and re-save") from None
        raise ModelLoadError(f"{path} could not be loaded as a {flavor} model: {str(exc).splitlines()[0][:200]}") from None


def _tfmot_scope(path: Path) -> Any:
    """TF-MOT's layer classes for an .h5 from quantization-aware training; else no extra classes."""
    import contextlib

    if path.suffix != ".h5" or "tensorflow_model_optimization" not in _h5_config(path):
        return contextlib.nullcontext()
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.quantize_scope()


def _h5_config(path: Path) -> str:
    import h5py

    with h5py.File(path, "r") as handle:
        config = handle.attrs.get("model_config")
    return config.decode() if isinstance(config, bytes) else str(config or "")


def _refuse_h5_lambdas(path: Path) -> None:
    """Legacy .h5 files have no safe mode: a Lambda layer's code would run on load."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            config = handle.attrs.get("model_config")
    except OSError as exc:
        raise ModelLoadError(f"{path} is not an HDF5 file: {exc}") from None
    text = config.decode() if isinstance(config, bytes) else str(config or "")
    if '"class_name": "Lambda"' in text:
        raise ModelLoadError(f"{path} holds Lambda layers whose code would run on load; re-save it as .keras (safe mode) or replace the Lambda layers")


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None) or str(dtype)
    return name.replace("tf.", "")


def keras_model(source: Artifact) -> KerasModel:
    """The Keras model of a KERAS artifact, loading it from its file when not in memory."""
    if source.model is not None:
        return source.model
    if source.path is None:
        raise BadInputError("this Keras artifact has neither a model in memory nor a file")
    return load_keras(source.path).model
