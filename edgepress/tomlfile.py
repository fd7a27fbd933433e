"""Reading the project's TOML files (recipes, recipe files, sweep grids) with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from edgepress.errors import BadInputError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse ``path``; a missing or malformed file is a BadInputError naming ``what`` it is.

    Example:
        >>> read_toml("grid.toml", "grid file")["formats"]
        ['onnx', 'tflite']
    """
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BadInputError(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"{what} {path} is not valid TOML: {exc}") from None
