"""The sweep grid file: a model, data, run settings, recipes (pass lists), formats, targets.

Example (``grid.toml``)::

    formats = ["onnx", "tflite", "pte"]
    targets = ["host-cpu", "arm64-emu:cortex-a76"]

    [model]
    builtin = "digits"            # or: path = "model.pt2" (it takes quantize.* and convert.* recipes, not prune.*),
                                  # or: factory = "pkg.mod:make_net" with input_shape (and weights): see edgepress.sources

    [data]                        # optional; the builtin model brings its test split
    path = "eval.npz"

    [run]                         # optional measurement settings
    threads = 1
    iters = 20
    min_seconds = 0.2

    [[recipe]]
    name = "fp32"
    passes = []

    [[recipe]]
    name = "prune50"
    passes = [{ name = "prune.channels", ratio = 0.5 }]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepress.artifact import Format
from edgepress.errors import BadInputError
from edgepress.sources import model_table
from edgepress.tomlfile import read_toml

RUN_KEYS = {"threads": int, "iters": int, "min_seconds": float, "warmup": int, "max_seconds": float, "timeout_s": float}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class RecipeSpec:
    """A named list of passes, each ``{"name": ..., option: value}`` as in the TOML."""

    name: str
    passes: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Grid:
    """A parsed, checked grid. Paths inside are absolute (relative to the grid file)."""

    model: dict[str, Any]
    recipes: tuple[RecipeSpec, ...]
    formats: tuple[str, ...]
    targets: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    base_dir: Path = Path(".")

    @property
    def size(self) -> int:
        return len(self.recipes) * len(self.formats) * len(self.targets)


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid TOML file (see the module docstring for the format)."""
    path = Path(path)
    return grid_from_dict(read_toml(path, "grid file"), path.resolve().parent)


def grid_from_dict(data: Mapping[str, Any], base_dir: Path = Path(".")) -> Grid:
    """Check a grid given as a dict; raises BadInputError naming the bad key."""
    known = {"model", "data", "run", "recipe", "formats", "targets", "plugins"}
    extra = set(data) - known
    if extra:
        raise BadInputError(f"grid has unknown key(s) {', '.join(sorted(extra))} (known: {', '.join(sorted(known))})")
    return Grid(
        model=model_table(data.get("model"), "grid", base_dir),
        recipes=_recipes(data.get("recipe")),
        formats=tuple(_format(f) for f in _str_list(data, "formats")),
        targets=tuple(_str_list(data, "targets")),
        data=_data(data.get("data", {}), base_dir),
        run=_run(data.get("run", {})),
        plugins=tuple(data.get("plugins", ())),
        base_dir=base_dir,
    )


def _data(data: Any, base_dir: Path) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) - {"path"}:
        raise BadInputError('grid [data] takes only path = "eval.npz" (x and optional labels y)')
    if "path" not in data:
        return {}
    path = (base_dir / str(data["path"])).resolve()
    if not path.exists():
        raise BadInputError(f"grid [data] path {path} does not exist")
    return {"path": str(path)}


def _run(run: Any) -> dict[str, Any]:
    if not isinstance(run, dict):
        raise BadInputError("grid [run] must be a table")
    out = {}
    for key, value in run.items():
        if key not in RUN_KEYS:
            raise BadInputError(f"grid [run] has no setting {key!r} (settings: {', '.join(RUN_KEYS)})")
        try:
            out[key] = RUN_KEYS[key](value)
        except (TypeError, ValueError):
            raise BadInputError(f"grid [run] {key} = {value!r} is not a number") from None
    return out


def _recipes(recipes: Any) -> tuple[RecipeSpec, ...]:
    if not isinstance(recipes, list) or not recipes:
        raise BadInputError('grid needs at least one [[recipe]] with a name (passes = [] for the unchanged model)')
    made = []
    for index, item in enumerate(recipes, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not _NAME.match(name):
            raise BadInputError(f"[[recipe]] {index} needs a name of letters, digits, '.', '_' or '-' (got {name!r})")
        passes = item.get("passes", [])
        if not isinstance(passes, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in passes):
            raise BadInputError(f"recipe {name!r}: passes must be a list of tables like {{ name = \"prune.channels\", ratio = 0.5 }}")
        made.append(RecipeSpec(name, tuple(dict(p) for p in passes)))
    names = [r.name for r in made]
    if len(set(names)) != len(names):
        raise BadInputError(f"recipe names must be unique (got {', '.join(names)})")
    return tuple(made)


def _format(name: str) -> str:
    return Format.parse(name).value  # raises a did-you-mean on a typo


def _str_list(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise BadInputError(f'grid needs {key} = ["..."] with at least one name')
    if len(set(value)) != len(value):
        raise BadInputError(f"grid {key} lists a name twice: {value}")
    return [v.strip() for v in value]
