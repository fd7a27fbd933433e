"""Loading model files: suffix and magic-byte checks before any heavy import, then the format's loader.

A missing path, a file whose bytes are not the format its suffix claims, and a truncated
archive each give a ModelLoadError that says what was expected and what was found. The
sidecar edgepress wrote beside a file it made restores its lineage, report and recipe.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.errors import ModelLoadError, first_line
from edgepress.intake.torch import load_pt2, load_torchscript
from edgepress.layouts import guess_layout


SUFFIX_FORMATS = {
    ".keras": Format.KERAS,
    ".h5": Format.KERAS,
    ".pt2": Format.TORCH_EXPORT,
    ".pt": Format.TORCHSCRIPT,
    ".onnx": Format.ONNX,
    ".tflite": Format.TFLITE,
    ".pte": Format.EXECUTORCH,
    ".ptl": Format.TORCHSCRIPT_LITE,
}


def load(path: str | Path, *, input_shape: Sequence[int] | None = None) -> Artifact:
    """Load and validate a model file: ``.pt2``, TorchScript ``.pt``, ``.onnx``, ``.keras``, ...

    Args:
        path: the model file.
        input_shape: needed only for TorchScript files, which carry no input shapes.

    Example:
        >>> art = edgepress.load("model.pt2")
        >>> art.format
        <Format.TORCH_EXPORT: 'pt2'>
    """
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model file {path} does not exist")
    if path.is_dir():
        from edgepress.intake.keras import load_keras

        return load_keras(path)  # a SavedModel folder
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(SUFFIX_FORMATS)
        raise ModelLoadError(f"{path}: unknown model suffix {path.suffix!r} (edgepress reads: {known})")
    check_magic(path, fmt)
    return _with_recorded_facts(_LOADERS[fmt](path, input_shape))


def _with_recorded_facts(art: Artifact) -> Artifact:
    """Restore lineage, conversion report and quantization recipe from the sidecar edgepress wrote beside the file."""
    from edgepress.storage import recorded_facts

    facts = recorded_facts(art.path, art.sha256) if art.path else None
    if not facts:
        return art
    from edgepress.quantization import read_recorded

    spec = InputSpec.from_dict(facts["input_spec"]) if facts.get("input_spec") else art.input_spec
    quant, report = read_recorded(art.format.value, facts)
    return art.derive(lineage=tuple(facts.get("lineage", ())), report=report, input_spec=spec, quant=quant)


def check_magic(path: Path, fmt: Format) -> None:
    """Raise ModelLoadError when the file's leading bytes contradict its suffix."""
    head = path.read_bytes()[:8] if path.is_file() else b""
    expected = {
        Format.KERAS: (zipfile.is_zipfile(path) or head[:8] == b"\x89HDF\r\n\x1a\n", "a .keras zip archive or an HDF5 .h5 file"),
        Format.TORCH_EXPORT: (zipfile.is_zipfile(path), "a zip archive written by torch.export.save"),
        Format.TORCHSCRIPT: (zipfile.is_zipfile(path), "a zip archive written by torch.jit.save"),
        Format.TORCHSCRIPT_LITE: (zipfile.is_zipfile(path), "a zip archive written by _save_for_lite_interpreter"),
        Format.TFLITE: (head[4:8] == b"TFL3", "a TFLite flatbuffer (bytes 4-8 'TFL3')"),
        Format.EXECUTORCH: (head[4:6] == b"ET", "an ExecuTorch program (bytes 4-6 'ET')"),
        Format.ONNX: (bool(head) and head[0] in (0x08, 0x0A, 0x12, 0x1A, 0x22, 0x3A, 0x42), "an ONNX protobuf"),
    }
    ok, what = expected[fmt]
    if not ok:
        raise ModelLoadError(f"{path} is not {what}: its content does not match its {path.suffix} suffix")


def _load_onnx(path: Path, _shape: Sequence[int] | None) -> Artifact:
    import onnx

    data = path.with_name(path.name + ".data")
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path} is a damaged or invalid ONNX model: {first_line(exc)}") from None
    from edgepress.targets.signature import onnx_input_spec

    spec = onnx_input_spec(model)
    return Artifact.from_file(path, Format.ONNX, spec, side_files=(data,) if data.exists() else ())


def _load_runtime_only(path: Path, shape: Sequence[int] | None) -> Artifact:
    """TFLite / ExecuTorch / lite-interpreter files: the recorded signature, else the runtime's."""
    from edgepress.artifact import sha256_of_files
    from edgepress.storage import recorded_facts
    from edgepress.targets.signature import read_input_spec

    fmt = SUFFIX_FORMATS[path.suffix.lower()]
    facts = recorded_facts(path, sha256_of_files([path]))
    if facts:
        return Artifact.from_file(path, fmt, InputSpec.from_dict(facts["input_spec"]))
    if fmt is Format.TORCHSCRIPT_LITE:
        if shape is None:
            raise ModelLoadError(f"{path}: .ptl files carry no input shapes; pass --input-shape (e.g. 1x3x224x224)")
        return Artifact.from_file(path, fmt, InputSpec((TensorSpec("x", tuple(shape)),), guess_layout(tuple(shape), prefer="NCHW")))
    return Artifact.from_file(path, fmt, read_input_spec(path, fmt))


def _load_keras(path: Path, _shape: Sequence[int] | None) -> Artifact:
    from edgepress.intake.keras import load_keras

    return load_keras(path)


_LOADERS = {
    Format.KERAS: _load_keras,
    Format.TORCH_EXPORT: load_pt2,
    Format.TORCHSCRIPT: load_torchscript,
    Format.ONNX: _load_onnx,
    Format.TFLITE: _load_runtime_only,
    Format.EXECUTORCH: _load_runtime_only,
    Format.TORCHSCRIPT_LITE: _load_runtime_only,
}
