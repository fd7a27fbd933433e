"""Format, InputSpec and Artifact: what a model is, what it eats, and where it lives."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgepress.errors import unknown_name
from edgepress.quantization import QuantSpec, read_recorded

Dim = int | str  # an int is a fixed size; a str names a dynamic dimension


class Format(enum.Enum):
    """Every model format edgepress reads or writes. The value is the CLI name."""

    TORCH = "torch"  # an in-memory torch.nn.Module
    TORCH_EXPORT = "pt2"  # torch.export ExportedProgram file
    TORCHSCRIPT = "torchscript"
    KERAS = "keras"
    ONNX = "onnx"
    TFLITE = "tflite"
    EXECUTORCH = "executorch"
    TORCHSCRIPT_LITE = "ptl"

    @property
    def suffix(self) -> str:
        """File suffix an artifact of this format is written with ('' if in-memory)."""
        return _SUFFIXES[self]

    @classmethod
    def parse(cls, name: str) -> Format:
        """Parse a CLI format name or alias, with a did-you-mean on typos.

        Example:
            >>> Format.parse("pte")
            <Format.EXECUTORCH: 'executorch'>
        """
        key = name.strip().lower()
        if key in _ALIASES:
            return _ALIASES[key]
        raise unknown_name("format", name, _ALIASES)


_SUFFIXES = {
    Format.TORCH: "",
    Format.TORCH_EXPORT: ".pt2",
    Format.TORCHSCRIPT: ".pt",
    Format.KERAS: ".keras",
    Format.ONNX: ".onnx",
    Format.TFLITE: ".tflite",
    Format.EXECUTORCH: ".pte",
    Format.TORCHSCRIPT_LITE: ".ptl",
}
_ALIASES = {f.value: f for f in Format} | {"pte": Format.EXECUTORCH, "torchscript_lite": Format.TORCHSCRIPT_LITE}


@dataclass(frozen=True)
class StoredAs:
    """A quantized integer input as the file takes it: real value = (q - zero_point) * scale."""

    dtype: str
    scale: float
    zero_point: int

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class TensorSpec:
    """One model input: its name, shape (str entries are dynamic) and numpy dtype name.

    ``dtype`` is what callers feed. ``stored`` is set when the file itself takes something
    else: an INT8 ``.tflite`` whose input is int8 with a scale and zero point takes float
    arrays from edgepress's runners, which quantize them with the file's own parameters.
    """

    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"
    stored: StoredAs | None = None

    @property
    def is_dynamic(self) -> bool:
        return any(isinstance(d, str) for d in self.shape)

    def concrete_shape(self, batch: int = 1) -> tuple[int, ...]:
        """Shape with dynamic dims filled: the first with ``batch``, others with 1."""
        return tuple(d if isinstance(d, int) else (batch if i == 0 else 1) for i, d in enumerate(self.shape))

    def to_dict(self) -> dict[str, Any]:
        stored = {"stored": self.stored.to_dict()} if self.stored else {}  # absent when none: older records read the same
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, **stored}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        stored = data.get("stored")
        return cls(data["name"], tuple(data["shape"]), data["dtype"], StoredAs(**stored) if stored else None)


@dataclass(frozen=True)
class InputSpec:
    """A model's input signature plus the memory layout of its image inputs.

    Example:
        >>> spec = InputSpec((TensorSpec("x", ("batch", 3, 32, 32)),), layout="NCHW")
        >>> spec.names, spec.dynamic_dims
        (('x',), {'x': {0: 'batch'}})
    """

    tensors: tuple[TensorSpec, ...]
    layout: str | None = None  # "NCHW", "NHWC" or None when not an image model

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    @property
    def shapes(self) -> tuple[tuple[Dim, ...], ...]:
        return tuple(t.shape for t in self.tensors)

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(t.dtype for t in self.tensors)

    @property
    def dynamic_dims(self) -> dict[str, dict[int, str]]:
        return {t.name: {i: d for i, d in enumerate(t.shape) if isinstance(d, str)} for t in self.tensors if t.is_dynamic}

    def to_dict(self) -> dict[str, Any]:
        return {"tensors": [t.to_dict() for t in self.tensors], "layout": self.layout}

    def with_layout(self, layout: str | None) -> InputSpec:
        return replace(self, layout=layout)

    def with_batch_name(self, name: str = "batch") -> InputSpec:
        """Rename a dynamic first dimension (exporters call it e.g. 's77') to ``name``."""
        renamed = tuple(
            replace(t, shape=(name, *t.shape[1:])) if t.shape and isinstance(t.shape[0], str) else t for t in self.tensors
        )
        return replace(self, tensors=renamed)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        tensors = tuple(TensorSpec.from_dict(t) for t in data["tensors"])
        return cls(tensors, data.get("layout"))


@dataclass(frozen=True)
class Artifact:
    """An immutable model file (or in-memory model) plus the facts about it.

    ``sha256`` and ``size_bytes`` cover the main file and its side files (an ONNX model's
    ``.onnx.data``) together; ``lineage`` lists the passes that made it, oldest first.
    ``quant`` is the quantization recipe: on a quantized PyTorch or Keras handle (and the
    ``.pt2`` / ``.keras`` it is saved as) what each converter applies; on a converted file,
    what made it. Passes never mutate an Artifact: they return a new one.
    """

    format: Format
    path: Path | None
    sha256: str
    size_bytes: int
    input_spec: InputSpec
    lineage: tuple[str, ...] = ()
    side_files: tuple[Path, ...] = ()
    report: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    model: Any = field(default=None, compare=False, hash=False, repr=False)
    quant: QuantSpec | None = None

    @property
    def name(self) -> str:
        return self.path.name if self.path else f"<in-memory {self.format.value}>"

    @property
    def stem(self) -> str:
        """Base name for files derived from this artifact ("model" when in-memory)."""
        return self.path.name.split(".")[0] if self.path else str(self.report.get("name", "model"))

    @property
    def files(self) -> tuple[Path, ...]:
        return ((self.path,) if self.path else ()) + self.side_files

    def derive(self, **changes: Any) -> Artifact:
        """A copy with some facts changed (the dataclass stays frozen)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "format": self.format.value,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "side_files": [str(p) for p in self.side_files],
            "input_spec": self.input_spec.to_dict(),
            "lineage": list(self.lineage),
            "report": self.report,
            "quant": self.quant.to_dict() if self.quant else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        """Rebuild a file artifact from ``to_dict`` output (facts trusted, not re-hashed).

        A sidecar written before ``quant`` existed kept a handle's recipe in its report: it is
        read once here and becomes the QuantSpec.
        """
        quant, report = read_recorded(data["format"], data)
        return cls(
            format=Format(data["format"]),
            path=Path(data["path"]) if data.get("path") else None,
            sha256=data["sha256"],
            size_bytes=data["size_bytes"],
            input_spec=InputSpec.from_dict(data["input_spec"]),
            lineage=tuple(data.get("lineage", ())),
            side_files=tuple(Path(p) for p in data.get("side_files", ())),
            report=report,
            quant=quant,
        )

    @classmethod
    def from_file(
        cls,
        path: Path,
        fmt: Format,
        input_spec: InputSpec,
        lineage: Iterable[str] = (),
        side_files: Iterable[Path] = (),
        report: dict[str, Any] | None = None,
        quant: QuantSpec | None = None,
    ) -> Artifact:
        """Describe a file already on disk, hashing it and its side files."""
        files = (Path(path), *map(Path, side_files))
        return cls(
            format=fmt,
            path=Path(path),
            sha256=sha256_of_files(files),
            size_bytes=sum(f.stat().st_size for f in files),
            input_spec=input_spec,
            lineage=tuple(lineage),
            side_files=tuple(files[1:]),
            report=dict(report or {}),
            quant=quant,
        )


def sha256_of_files(paths: Iterable[Path]) -> str:
    """sha256 over the bytes of several files in order (one file: its plain sha256)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
