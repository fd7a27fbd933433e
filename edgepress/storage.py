"""Atomic, resumable artifact output.

A pass writes into a private staging folder inside the output folder; only when it
succeeds are the files renamed into place (side files first, the model file last), so a
killed run never leaves a half-written model under its final name. For each model a
small ``.edgepress/NAME.json`` records the cache key (source sha256 + pass + options) and
the artifact's facts, so a re-run with the same key reuses the file instead of redoing
the work.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgepress.artifact import Artifact, Format, InputSpec, sha256_of_files

SIDECAR_DIR = ".edgepress"  # hidden, so `edgepress bench OUT/*` sees only models


@contextmanager
def staging_dir(out_dir: Path) -> Iterator[Path]:
    """A temporary folder on the same filesystem as ``out_dir``, removed afterwards."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(staged: Artifact, out_dir: Path, cache_key: str) -> Artifact:
    """Move a staged artifact's files into ``out_dir`` atomically and write its sidecar."""
    moved_sides = tuple(_atomic_move(p, out_dir / p.name) for p in staged.side_files)
    assert staged.path is not None  # staged artifacts are always files
    final = staged.derive(path=_atomic_move(staged.path, out_dir / staged.path.name), side_files=moved_sides)
    write_json_atomic(_sidecar(final.path), {"cache_key": cache_key, "artifact": final.to_dict()})
    return final


def cached(out_dir: Path, filename: str, cache_key: str) -> Artifact | None:
    """The artifact made earlier with the same cache key, if its files are intact."""
    path = out_dir / filename
    sidecar = _sidecar(path)
    if not (path.exists() and sidecar.exists()):
        return None
    try:
        record = json.loads(sidecar.read_text())
        facts = record["artifact"]
        if record["cache_key"] != cache_key:
            return None
        sides = tuple(Path(p) for p in facts["side_files"])
        if sha256_of_files((path, *sides)) != facts["sha256"]:
            return None
    except (OSError, ValueError, KeyError):
        return None  # an unreadable or stale record means: redo the work
    return Artifact.from_file(
        path, Format(facts["format"]), InputSpec.from_dict(facts["input_spec"]), facts["lineage"], sides, facts["report"]
    )


def recorded_facts(path: Path, sha256: str) -> dict | None:
    """The facts edgepress recorded when it made ``path`` (lineage, report), if still valid."""
    try:
        facts = json.loads(_sidecar(path).read_text())["artifact"]
    except (OSError, ValueError, KeyError):
        return None
    return facts if facts.get("sha256") == sha256 else None


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON via a temp file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.write("\n")
    os.replace(tmp, path)


def _atomic_move(src: Path, dst: Path) -> Path:
    os.replace(src, dst)
    return dst


def _sidecar(path: Path) -> Path:
    return path.parent / SIDECAR_DIR / f"{path.name}.json"
