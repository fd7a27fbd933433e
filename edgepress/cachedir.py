"""The edgepress cache folder: where it is, what each part holds, bounded parts, clearing.

The cache is ``$EDGEPRESS_CACHE``, else ``~/.cache/edgepress``. Each top-level folder is
one part. The parts that grow with every model quantized or converted (calibration
samples, saved sources of in-memory models) are bounded: when one grows past its bound,
its least recently used entries are removed, oldest first. Entries are content-addressed,
so a removed one is simply rebuilt the next time it is needed.

Example:
    >>> from edgepress import cachedir
    >>> [(u.name, u.entries) for u in cachedir.usage()]
    [('calibration', 3), ('demo', 1), ('sources', 2)]
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
# What each part edgepress writes holds (``edgepress cache info`` shows these).
PARTS = {
    "calibration": "calibration samples of quantized models, by content",
    "sources": "saved in-memory models that converters read, by model digest",
    "demo": "trained weights of the demo's digits CNN",
    "data": "the digits data as .npz files for recipes",
    "arm64": "aarch64 sysroots of the arm64-emu target",
    "logs": "logs of the frameworks' own output",
}
BOUNDS = {"calibration": 512 * MIB, "sources": 1024 * MIB}


@dataclass(frozen=True)
class PartUsage:
    """One top-level entry of the cache: its size, how many entries it holds, what it is."""

    name: str
    path: Path
    bytes: int
    entries: int
    about: str


def root() -> Path:
    """The cache folder: ``$EDGEPRESS_CACHE``, else ``~/.cache/edgepress`` (not created here)."""
    return Path(os.environ.get("EDGEPRESS_CACHE") or Path.home() / ".cache" / "edgepress")


def part(name: str) -> Path:
    """The folder of one cache part, e.g. ``part("calibration")`` (not created here)."""
    return root() / name


def used(entry: Path) -> None:
    """Mark a part's entry as just used, so the bound removes it last."""
    try:
        os.utime(entry)
    except OSError:  # removed meanwhile by another process's bound: it is rebuilt when next needed
        pass


def bound(name: str, keep: Path) -> list[Path]:
    """Remove a part's least recently used entries until it fits ``BOUNDS[name]``; never ``keep``.

    Returns the entries removed. Hidden entries (files being written) are left alone.
    """
    entries = sorted(_entries(part(name)), key=lambda e: e[2])  # oldest use first
    total = sum(size for _, size, _ in entries)
    removed = []
    for path, size, _ in entries:
        if total <= BOUNDS[name]:
            break
        if path != keep:
            _remove(path)
            removed.append(path)
            total -= size
    return removed


def usage() -> list[PartUsage]:
    """Every top-level entry of the cache with its size and entry count, by name."""
    folder = root()
    if not folder.is_dir():
        return []
    made = []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        inner = _entries(path) if path.is_dir() else []
        made.append(PartUsage(path.name, path, _size(path), len(inner) if path.is_dir() else 1, PARTS.get(path.name, "not made by edgepress")))
    return made


def clear(names: list[str] | None = None) -> list[PartUsage]:
    """Empty the named parts (default: every part edgepress makes); returns what they held.

    Entries edgepress did not make are left in place, so a cache folder pointed at a
    shared place never loses anything else.
    """
    from edgepress.errors import BadInputError

    unknown = sorted(set(names or ()) - set(PARTS))
    if unknown:
        raise BadInputError(f"unknown cache part(s) {', '.join(unknown)}; the parts are: {', '.join(PARTS)}")
    wanted = set(names or PARTS)
    gone = [u for u in usage() if u.name in wanted]
    for u in gone:
        for path, _size, _used in _entries(u.path) if u.path.is_dir() else [(u.path, 0, 0.0)]:
            _remove(path)  # hidden entries stay: files another command is writing right now (its log, a staged file)
    return gone


def _entries(folder: Path) -> list[tuple[Path, int, float]]:
    """(path, bytes, last use) of a folder's visible entries; vanished ones are skipped."""
    found = []
    for path in folder.iterdir() if folder.is_dir() else ():
        if path.name.startswith("."):
            continue
        try:
            found.append((path, _size(path), path.stat().st_mtime))
        except OSError:
            continue
    return found


def _size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
