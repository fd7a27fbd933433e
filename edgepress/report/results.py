"""Results JSON (schema version 1): write and read lists of BenchResult.

The schema is documented in docs/results-schema.md. HTML and Markdown reports are
rendered from this JSON only.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgepress.measure import BenchResult
from edgepress.errors import BadInputError
from edgepress.storage import write_json_atomic

SCHEMA_VERSION = 1


def results_document(results: Sequence[BenchResult]) -> dict[str, Any]:
    """The JSON document for ``results``: schema version, creation time, results."""
    from edgepress import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "edgepress_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "results": [r.to_dict() for r in results],
    }


def write_results(path: str | Path, results: Sequence[BenchResult]) -> Path:
    """Write results JSON atomically; returns the path."""
    path = Path(path)
    write_json_atomic(path, results_document(results))
    return path


def read_results(path: str | Path) -> list[BenchResult]:
    """Read a results file, refusing unknown schema versions with a clear message."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInputError(f"results file {path} does not exist") from None
    except ValueError as exc:
        raise BadInputError(f"{path} is not JSON: {exc}") from None
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version != SCHEMA_VERSION:
        raise BadInputError(f"{path} has schema_version {version!r}; this edgepress reads version {SCHEMA_VERSION}")
    return [BenchResult.from_dict(r) for r in document["results"]]
