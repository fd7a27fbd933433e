"""Results JSON (schema version 1): write and read lists of BenchResult.

The schema is documented in docs/results-schema.md. HTML and Markdown reports are
rendered from this JSON only.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgepress.drift import Drift
from edgepress.results import BenchResult, LatencyStats
from edgepress.errors import BadInputError
from edgepress.storage import check_writable_file, write_json_atomic

SCHEMA_VERSION = 2  # 2: latency_ms is the runtime's inference call alone; io_ms and end_to_end_ms are new
READABLE_VERSIONS = (1, 2)  # version 1 files are migrated as they are read (_from_version_1)
ARTIFACT_KEYS = ("path", "format", "sha256", "size_bytes")  # what the reports read of every artifact


def results_document(results: Sequence[BenchResult]) -> dict[str, Any]:
    """The JSON document for ``results``: schema version, creation time, results."""
    from edgepress._version import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "edgepress_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "results": [r.to_dict() for r in results],
    }


def write_results(path: str | Path, results: Sequence[BenchResult]) -> Path:
    """Write results JSON atomically; returns the path."""
    path = check_writable_file(path, "the results file")
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
    if version not in READABLE_VERSIONS:
        raise BadInputError(f"{path} has schema_version {version!r}; this edgepress reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    cells = document.get("results")
    if not isinstance(cells, list):
        raise BadInputError(f"{path} does not fit results schema version {version}: 'results' must be a list of results, found {type(cells).__name__}")
    results = [_result(cell, i, path, version) for i, cell in enumerate(cells)]
    return [_from_version_1(r) for r in results] if version == 1 else results


def _from_version_1(result: BenchResult) -> BenchResult:
    """A version 1 result: its latency timed host arrays in and out, so it is end-to-end time.

    It moves to ``end_to_end_ms`` (p50, mean); ``latency_ms`` is left empty, so an old file
    never sits beside a new one as if both timed the inference call alone.
    """
    if result.latency_ms is not None:
        result.end_to_end_ms = {"p50": result.latency_ms.p50, "mean": result.latency_ms.mean}
        result.latency_ms = None
    return result


def _result(cell: Any, index: int, path: Path, version: int) -> BenchResult:
    """One result, refused with the missing or malformed field named (docs/results-schema.md)."""
    problem = _schema_problem(cell)
    if problem is None:
        try:
            return BenchResult.from_dict(cell)
        except (TypeError, ValueError, AttributeError) as exc:
            problem = str(exc)
    raise BadInputError(
        f"{path}: result {index} does not fit results schema version {version}: {problem}; "
        "use a file written by edgepress bench --json, demo or sweep"
    )


def _schema_problem(cell: Any) -> str | None:
    if not isinstance(cell, dict):
        return f"expected an object, found {type(cell).__name__}"
    missing = [f"'{k}'" for k in _required(BenchResult) if k not in cell]
    if not isinstance(cell.get("artifact", {}), dict):
        return "'artifact' must be an object"
    missing += [f"'artifact.{k}'" for k in ARTIFACT_KEYS if "artifact" in cell and k not in cell["artifact"]]
    for key, cls in (("latency_ms", LatencyStats), ("io_ms", LatencyStats), ("drift", Drift)):
        value = cell.get(key)
        if value is not None and not isinstance(value, dict):
            return f"'{key}' must be an object or null"
        missing += [f"'{key}.{k}'" for k in _required(cls) if value and k not in value]
    return f"missing {', '.join(missing)}" if missing else None


def _required(cls: type) -> list[str]:
    """The fields of a dataclass that have no default."""
    return [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
