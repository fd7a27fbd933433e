"""The Pass protocol, the one pass registry, and Recipe (an ordered, checked chain).

Compression passes and converters share one shape: a frozen dataclass whose fields are
its options, a stable ``name``, the formats it ``accepts``, and
``run(artifact, out_dir) -> Artifact``. ``apply`` adds what every pass gets for free:
the format check, resumable caching by content, and errors that name the pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import importlib
import json
import os
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from edgepress.artifact import Artifact, Format
from edgepress.errors import (
    BadInputError,
    EdgepressError,
    FormatChainError,
    PassFailedError,
    unknown_name,
)
from edgepress.usercode import import_named

# Modules whose import registers the built-in passes. They import no heavy framework
# at module level, so loading the registry stays cheap.
BUILTIN_PASS_MODULES = (
    "edgepress.converters.onnx",
    "edgepress.converters.torch_export",
    "edgepress.converters.torchscript",
    "edgepress.compress.prune",
    "edgepress.compress.distill",
    "edgepress.compress.quantize",
    "edgepress.compress.qat",
    "edgepress.converters.executorch",
    "edgepress.converters.tflite",
    "edgepress.converters.keras_file",
)


@runtime_checkable
class Pass(Protocol):
    """What every compression pass and converter provides."""

    name: ClassVar[str]
    accepts: ClassVar[frozenset[Format]]
    summary: ClassVar[str]

    def output_format(self, source: Format) -> Format:
        """The format this pass produces from ``source``."""
        ...

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        """Transform ``artifact`` into a new one (never mutating it)."""
        ...


_REGISTRY: dict[str, type] = {}


@contextlib.contextmanager
def plugins_enabled(modules: Iterable[str]) -> Iterator[None]:
    """Add pass modules to ``$EDGEPRESS_PLUGINS`` for a while (also seen by child processes).

    Example:
        >>> with plugins_enabled(["mypkg.passes"]):
        ...     create("my.pass")
    """
    before = os.environ.get("EDGEPRESS_PLUGINS")
    merged = list(dict.fromkeys([*(m for m in (before or "").split(",") if m), *modules]))
    if merged:
        os.environ["EDGEPRESS_PLUGINS"] = ",".join(merged)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("EDGEPRESS_PLUGINS", None)
        else:
            os.environ["EDGEPRESS_PLUGINS"] = before


def register(cls: type) -> type:
    """Class decorator adding a pass to the registry; a duplicate name raises."""
    name = getattr(cls, "name", None)
    if not name or not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__qualname__} must be a dataclass with a class-level 'name'")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"pass name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
    _REGISTRY[name] = cls
    return cls


def registry() -> dict[str, type]:
    """All registered pass classes by name (built-ins loaded on first use).

    Modules named in ``$EDGEPRESS_PLUGINS`` (comma-separated) are imported too, so
    third-party passes register themselves, also in converter child processes.
    """
    plugins = [m.strip() for m in os.environ.get("EDGEPRESS_PLUGINS", "").split(",") if m.strip()]
    for module in (*BUILTIN_PASS_MODULES, *plugins):
        try:
            import_named(module) if module in plugins else importlib.import_module(module)
        except ImportError as exc:
            raise BadInputError(f"cannot import pass module {module!r} (from EDGEPRESS_PLUGINS): {exc}") from None
    return dict(sorted(_REGISTRY.items()))


def create(name: str, options: Mapping[str, Any] | None = None) -> Pass:
    """Instantiate a registered pass from its name and plain (e.g. TOML) option values.

    Example:
        >>> create("convert.onnx", {"opset": 18}).opset
        18
    """
    passes = registry()
    if name not in passes:
        raise unknown_name("pass", name, passes)
    cls = passes[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in (options or {}).items():
        if key not in fields:
            raise BadInputError(f"pass {name!r} has no option {key!r} (options: {', '.join(fields) or 'none'})")
        kwargs[key] = _coerce(name, key, value, hints[key])
    return cls(**kwargs)


def options_of(p: Pass) -> dict[str, Any]:
    """A pass's options as JSON-friendly values (Enums by value)."""
    return {f.name: _plain(getattr(p, f.name)) for f in dataclasses.fields(p)}


def describe(p: Pass) -> str:
    """One lineage line: ``convert.onnx(opset=18, dynamic_batch=True)``."""
    opts = ", ".join(f"{k}={v}" for k, v in options_of(p).items())
    return f"{p.name}({opts})"


def cache_key(p: Pass, artifact: Artifact) -> str:
    """Content address of running ``p`` on ``artifact``: source hash + pass + options + quantization recipe + input spec.

    A quantized handle's saved ``.pt2`` / ``.keras`` is the float model byte for byte: its
    ``quant`` is what tells the conversions apart. The input spec is there because the same
    ``.pt2`` converts differently at a fixed ``--input-shape``. ``KEY_VERSION`` changes when
    what a key covers changes, so caches made before are invalidated once, as misses.
    """
    quant = artifact.quant.to_dict() if artifact.quant else None
    blob = json.dumps([KEY_VERSION, artifact.sha256, p.name, options_of(p), quant, artifact.input_spec.to_dict()], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


KEY_VERSION = 5  # 2: the recipe is the typed Artifact.quant, no longer read from the report; 3: TFLite inputs record a quantized int8 input (TensorSpec.stored); 4: TFLite reports say which ops XNNPACK takes, static INT8 .pte keep leading convs float and observe clamped outputs, static INT8 TFLite clips ranges at the percentile; 5: static INT8 .pte clips ranges at the percentile too


def check_accepts(p: Pass, source: Format) -> Format:
    """The output format of ``p`` on ``source``, or a FormatChainError saying what fits."""
    if source not in p.accepts:
        accepted = ", ".join(sorted(f.value for f in p.accepts))
        raise FormatChainError(f"pass {p.name!r} cannot take a {source.value} model (it takes: {accepted})")
    return p.output_format(source)


def apply(p: Pass, artifact: Artifact, out_dir: Path) -> Artifact:
    """Run one pass with the format check; typed errors pass through, others are wrapped."""
    check_accepts(p, artifact.format)
    try:
        return p.run(artifact, Path(out_dir))
    except BadInputError:
        raise
    except EdgepressError as exc:
        exc.args = (f"pass {p.name!r} failed: {exc}",)
        raise
    except Exception as exc:  # a converter's own exception: keep its message, name the pass
        raise PassFailedError(f"pass {p.name!r} failed: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Recipe:
    """An ordered tuple of passes, checked end to end before any work starts.

    Example (TOML):
        [[pass]]
        name = "convert.onnx"
        opset = 18
    """

    passes: tuple[Pass, ...]

    @classmethod
    def from_toml(cls, path: Path) -> Recipe:
        from edgepress.tomlfile import read_toml

        return cls.from_dict(read_toml(path, "recipe"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        steps = data.get("pass")
        if not isinstance(steps, list) or not steps:
            raise BadInputError("a recipe needs at least one [[pass]] table with a 'name'")
        made = []
        for step in steps:
            options = {k: v for k, v in step.items() if k != "name"}
            if "name" not in step:
                raise BadInputError(f"recipe step {len(made) + 1} has no 'name'")
            made.append(create(step["name"], options))
        return cls(tuple(made))

    def check(self, source: Format) -> Format:
        """Walk the format chain; raise FormatChainError naming the first misfit step."""
        fmt = source
        for index, p in enumerate(self.passes):
            try:
                fmt = check_accepts(p, fmt)
            except FormatChainError as exc:
                raise FormatChainError(f"recipe step {index + 1}: {exc}{_history(self.passes[:index])}") from None
        return fmt

    def run(self, artifact: Artifact, out_dir: Path) -> tuple[Artifact, ...]:
        """Run every pass in order; returns each step's artifact."""
        self.check(artifact.format)
        made: list[Artifact] = []
        for index, p in enumerate(self.passes):
            try:
                artifact = apply(p, artifact, out_dir)
            except EdgepressError as exc:
                exc.args = (f"{exc}{_history(self.passes[:index])}",)
                raise
            made.append(artifact)
        return tuple(made)


def _history(done: Sequence[Pass]) -> str:
    if not done:
        return " (it was the first pass)"
    return f" (after: {', '.join(p.name for p in done)})"


def _coerce(pass_name: str, key: str, value: Any, hint: Any) -> Any:
    """Turn a plain option value into the field's declared type (Enum, int, ...)."""
    target = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
    try:
        if isinstance(target, type) and issubclass(target, enum.Enum):
            return value if isinstance(value, target) else target(value)
        if target is bool and not isinstance(value, bool):
            raise ValueError("expected true or false")
        if target in (int, float, str) and value is not None:
            return target(value)
    except ValueError:
        if isinstance(target, type) and issubclass(target, enum.Enum):
            allowed = ", ".join(str(m.value) for m in target)
        else:
            allowed = "true or false" if target is bool else target.__name__
        raise BadInputError(f"pass {pass_name!r} option {key!r}: {value!r} is not valid (expected {allowed})") from None
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value
