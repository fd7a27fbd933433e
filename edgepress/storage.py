"""Atomic, resumable artifact output.

A pass writes into a private staging folder inside the output folder; only when it
succeeds are the files renamed into place (side files first, the model file last), so a
killed run never leaves a half-written model under its final name. For each model a
small ``.edgepress/NAME.json`` records the cache key (source sha256 + pass + options) and
the artifact's facts, so a re-run with the same key reuses the file instead of redoing
the work.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgepress.artifact import Artifact, Format, InputSpec, sha256_of_files
from edgepress.errors import BadInputError
from edgepress.quantization import read_recorded

SIDECAR_DIR = ".edgepress"  # hidden, so `edgepress bench OUT/*` sees only models


def check_writable_dir(path: str | Path, option: str) -> Path:
    """Refuse a folder edgepress could not create or write into, before any work starts.

    Creates nothing: missing folders are not made, and the probe file written into the
    nearest existing folder is removed at once.

    Example:
        >>> check_writable_dir("out", "--out")
        PosixPath('out')
    """
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise BadInputError(f"{option} {path} is a file, not a folder; name a folder (it is created if missing) or move the file away")
    _check_nearest_folder(path, option)
    return path


def check_writable_file(path: str | Path, option: str, example: str = "results.json") -> Path:
    """Refuse a file path edgepress could not write, before any work starts (creates nothing).

    Example:
        >>> check_writable_file("results.json", "--json")
        PosixPath('results.json')
    """
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{option} {path} is a folder, not a file; name a file instead, e.g. {path / example}")
    if os.path.lexists(path) and not path.exists():
        raise BadInputError(f"{option} {path} is a broken symbolic link; remove it or name another file")
    _check_nearest_folder(path.parent, option, shown=path)
    return path


def _check_nearest_folder(path: Path, option: str, shown: Path | None = None) -> None:
    """The nearest existing folder at or above ``path`` must be a folder edgepress can write in."""
    shown = shown or path
    nearest = next(p for p in (path.absolute(), *path.absolute().parents) if os.path.lexists(p))
    if not nearest.is_dir():
        raise BadInputError(f"{option} {shown}: {nearest} is a file, so no folder can be made there; choose a path under a folder")
    # os.access alone is not enough: root passes it on a read-only mount, and /proc or /sys pass it too.
    problem = _probe(nearest)
    if problem or not os.access(nearest, os.W_OK | os.X_OK):
        raise BadInputError(f"{option} {shown}: cannot write in {nearest} ({problem or 'permission denied'}); choose a writable location")


def _probe(folder: Path) -> str | None:
    """Why a file cannot be made in ``folder`` (None if it can); the probe file is removed at once."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgepress-probe-", dir=folder)
    except OSError as exc:  # /proc answers ENOENT for a folder that exists
        return "it does not accept new files" if exc.errno == errno.ENOENT else exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(probe)
    return None


@contextmanager
def staging_dir(out_dir: Path) -> Iterator[Path]:
    """A temporary folder on the same filesystem as ``out_dir``, removed afterwards.

    When the work fails, the folders this call created are removed too if they are
    still empty, so a failed job does not leave an empty output folder behind.
    """
    created = [p for p in (out_dir, *out_dir.parents) if not os.path.lexists(p)]  # deepest first
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (another job wrote there) or already gone: keep it
            return


def publish(staged: Artifact, out_dir: Path, cache_key: str) -> Artifact:
    """Move a staged artifact's files into ``out_dir`` atomically and write its sidecar."""
    moved_sides = tuple(_atomic_move(p, out_dir / p.name) for p in staged.side_files)
    assert staged.path is not None  # staged artifacts are always files
    final = staged.derive(path=_atomic_move(staged.path, out_dir / staged.path.name), side_files=moved_sides)
    write_json_atomic(_sidecar(final.path), {"cache_key": cache_key, "artifact": final.to_dict()})
    return final


def rerecord(artifact: Artifact, cache_key: str) -> Artifact:
    """Replace a published file's sidecar: the same file, new facts (report, lineage) under a new key.

    A step that decides about a file after it was published (the accuracy guard) keeps its
    record with the file; the new key keeps a run without that step from reusing the record.
    """
    assert artifact.path is not None  # only published files have a sidecar
    write_json_atomic(_sidecar(artifact.path), {"cache_key": cache_key, "artifact": artifact.to_dict()})
    return artifact


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
    quant, report = read_recorded(facts["format"], facts)
    return Artifact.from_file(path, Format(facts["format"]), InputSpec.from_dict(facts["input_spec"]), facts["lineage"], sides, report, quant)


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
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:  # a failed rename (path is a folder, disk full) must not leave the temp file
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_move(src: Path, dst: Path) -> Path:
    os.replace(src, dst)
    return dst


def _sidecar(path: Path) -> Path:
    return path.parent / SIDECAR_DIR / f"{path.name}.json"
