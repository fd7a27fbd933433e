"""Finished sweep cells stored by content key, one JSON file each, written atomically.

The key hashes everything that decides a cell's result: the model's content hash, the
recipe's passes with their options, the format, the target, the run settings and the
evaluation data. A killed sweep leaves only whole cell files, so a re-run does exactly
the cells that are missing; a repeated sweep reads every cell from here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from edgepress.storage import write_json_atomic

KEY_VERSION = 3  # bump when a change to edgepress makes old cells wrong (2: .pt2 models feed quantize recipes; static-batch references; 3: invoke-only latency)
CELLS_DIR = "cells"


def cell_key(model_hash: str, passes: list[dict[str, Any]], fmt: str, target: str, settings: dict[str, Any], data_hash: str) -> str:
    """The content address of one cell (sha256 hex).

    Example:
        >>> len(cell_key("ab12", [], "onnx", "host-cpu", {"threads": 1}, "digits"))
        64
    """
    blob = json.dumps([KEY_VERSION, model_hash, passes, fmt, target, settings, data_hash], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CellCache:
    """Cell results under ``OUT/cells/KEY.json``."""

    def __init__(self, out_dir: Path) -> None:
        self.root = Path(out_dir) / CELLS_DIR

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result dict, or None when absent or unreadable (then the cell re-runs)."""
        try:
            record = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        return record.get("result") if isinstance(record, dict) and record.get("key") == key else None

    def put(self, key: str, cell: dict[str, Any], result: dict[str, Any]) -> Path:
        """Store a finished cell atomically; returns its file."""
        path = self.path(key)
        write_json_atomic(path, {"key": key, "cell": cell, "result": result})
        return path
