"""Where a chain's model and data come from: the ``[model]`` table of recipe files and sweep grids.

One table, one parser, for both files::

    [model]
    builtin = "digits"                  # the built-in digits CNN; or
    # path = "model.pt2"                # any file edgepress.load reads (.pt2, .keras, .onnx, ...); or
    # factory = "pkg.mod:make_net"      # the user's function returning an nn.Module, with
    # weights = "w.pt"                  #   optional state_dict and
    # input_shape = [1, 3, 224, 224]    #   its example input's shape (required with factory)

Relative paths are read against a base folder the caller gives: the current folder for a
recipe file (as on the command line), the grid file's folder for a grid (cells run from
anywhere). The table comes back with absolute paths, so it can travel to a sweep worker.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress import digits
from edgepress.artifact import Format
from edgepress.errors import BadInputError, ModelLoadError

if TYPE_CHECKING:
    from edgepress.artifact import Artifact
    from edgepress.passes import Recipe

MODEL_KEYS = ("builtin", "path", "factory")
BUILTIN_MODELS = (digits.NAME,)
_OPTIONAL_KEYS = {"path": ("input_shape",), "factory": ("weights", "input_shape"), "builtin": ()}

# Passes that take the module of a loaded .pt2 (``intake.module_of_program``): they quantize
# through PT2E, which works on exported graphs, as ``edgepress quantize model.pt2`` does.
# Pruning and distillation edit and train layer objects (nn.Conv2d, nn.Linear), which a
# saved program does not hold: torch.export keeps a traced graph of aten ops.
PROGRAM_PASSES = frozenset({"quantize.int8_static", "quantize.int8_dynamic", "quantize.qat"})


def model_table(table: Any, where: str, base_dir: Path) -> dict[str, Any]:
    """Check a ``[model]`` table; the same table back with absolute paths and a list input shape."""
    if not isinstance(table, Mapping) or sum(k in table for k in MODEL_KEYS) != 1:
        raise BadInputError(
            f"{where} needs a 'model' table with exactly one of: builtin = \"{digits.NAME}\", path = \"model.pt2\", "
            "factory = \"package.module:function\""
        )
    kind = next(k for k in MODEL_KEYS if k in table)
    extra = sorted(set(table) - {kind, *_OPTIONAL_KEYS[kind]})
    if extra:
        raise BadInputError(f"{where} [model] with {kind} takes no {', '.join(extra)} (it takes: {', '.join((kind, *_OPTIONAL_KEYS[kind]))})")
    if kind == "builtin" and table["builtin"] not in BUILTIN_MODELS:
        raise BadInputError(f"{where}: unknown builtin model {table['builtin']!r} (known: {', '.join(BUILTIN_MODELS)})")
    checked: dict[str, Any] = {kind: str(table[kind])}
    if kind == "path":
        checked["path"] = str(_existing(base_dir / str(table["path"]), f"{where} [model] path"))
    if "weights" in table:
        checked["weights"] = str(_existing(base_dir / str(table["weights"]), f"{where} [model] weights"))
    if "input_shape" in table:
        checked["input_shape"] = _shape(table["input_shape"], where)
    if kind == "factory" and "input_shape" not in checked:
        raise BadInputError(f"{where}: a [model] factory needs input_shape = [1, 3, 224, 224] (its example input)")
    return checked


def _existing(path: Path, what: str) -> Path:
    path = path.resolve()
    if not path.exists():
        raise ModelLoadError(f"{what} {path} does not exist")
    return path


def _shape(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value):
        raise BadInputError(f"{where}: [model] input_shape must be a list of positive integers, e.g. [1, 3, 224, 224]; got {value!r}")
    return list(value)


def model_format(table: Mapping[str, Any]) -> Format:
    """The format the table's model arrives in, from a file's suffix (nothing is loaded)."""
    return file_format(table["path"]) if "path" in table else Format.TORCH


def load_model(table: Mapping[str, Any]) -> Artifact:
    """The model a checked table names: loaded, built by the user's factory, or the built-in one."""
    from edgepress.intake.files import load
    from edgepress.intake.torch import from_factory

    if "builtin" in table:
        return digits.model()
    shape = table.get("input_shape")
    if "factory" in table:
        return from_factory(table["factory"], table.get("weights"), shape)
    return load(table["path"], input_shape=shape)


def model_identity(table: Mapping[str, Any]) -> str:
    """A content hash of the table's model (a sweep's cache key), without importing torch where it can.

    A file hashes its bytes; the built-in CNN its trained weights; a factory its spec, the
    source file of its module (found, not imported) and its weights file.
    """
    if "path" in table:
        return file_sha256(Path(table["path"]))
    if "builtin" in table:
        if not digits.weights_path().exists():
            digits.model()  # trains once and caches the weights
        return file_sha256(digits.weights_path())
    parts = [json.dumps(dict(table), sort_keys=True), _module_file_hash(str(table["factory"]).partition(":")[0])]
    if table.get("weights"):
        parts.append(file_sha256(Path(table["weights"])))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _module_file_hash(module: str) -> str:
    from edgepress.usercode import start_folder_importable

    try:
        with start_folder_importable():  # where from_factory will import it from
            spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None) if spec is not None else None
    return file_sha256(Path(origin)) if origin and Path(origin).is_file() else f"module:{module}"


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_format(path: str | Path) -> Format:
    """A model file's format from its suffix (a folder is a Keras SavedModel); nothing is loaded.

    Example:
        >>> file_format("model.pt2")
        <Format.TORCH_EXPORT: 'pt2'>
    """
    from edgepress.intake.files import SUFFIX_FORMATS

    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model file {path} does not exist")
    fmt = Format.KERAS if path.is_dir() else SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ModelLoadError(f"{path}: unknown model suffix {path.suffix!r} (edgepress reads: {', '.join(SUFFIX_FORMATS)})")
    return fmt


def first_format(source: Format, recipe: Recipe) -> Format:
    """The format the recipe's first pass gets from a ``source`` model (a .pt2 becomes its module for PROGRAM_PASSES).

    Raises BadInputError, before any work, when the first pass edits a PyTorch module
    and ``source`` is a file that holds none.

    Example:
        >>> first_format(Format.TORCH_EXPORT, Recipe((create("quantize.int8_static"),)))
        <Format.TORCH: 'torch'>
    """
    first = recipe.passes[0] if recipe.passes else None
    if first is None or source is Format.TORCH or source in first.accepts or Format.TORCH not in first.accepts:
        return source  # nothing to adapt; Recipe.check names any other misfit
    if first.name in PROGRAM_PASSES:
        return Format.TORCH if source is Format.TORCH_EXPORT else source  # else Recipe.check names the misfit
    if first.name.startswith("convert."):
        return source  # a converter that takes a module only (convert.pt2): Recipe.check says what it takes
    held = " (it holds a torch.export graph of aten ops)" if source is Format.TORCH_EXPORT else ""
    raise BadInputError(
        f"pass {first.name!r} edits a PyTorch module's layers (nn.Conv2d, nn.Linear), which a {source.value} file does not hold{held}; "
        "a .pt2 feeds quantize.* and convert.* passes. Start from the module instead: edgepress.from_torch in Python, or a recipe "
        "or grid with [model] factory = \"package.module:function\", weights and input_shape"
    )


def module_for(source: Artifact, recipe: Recipe) -> Artifact:
    """``source`` as the recipe's first pass takes it: a loaded .pt2 as its module for quantize.* passes."""
    from edgepress.intake.torch import module_of_program

    if first_format(source.format, recipe) is source.format:
        return source
    return module_of_program(source)
