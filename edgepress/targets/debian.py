"""Debian arm64 packages for the emulation sysroot, fetched with a private apt root.

The host's dpkg configuration is left alone (no ``dpkg --add-architecture``): apt runs
with its state, cache and sources redirected into the cache directory and
``APT::Architecture=arm64``, so it downloads arm64 ``.deb`` files without root. They are
unpacked with ``dpkg-deb -x`` (no maintainer scripts run).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

# The interpreter and stdlib, plus the C++ runtime that onnxruntime, LiteRT, ExecuTorch
# and torch link against (manylinux wheels never bundle libstdc++/libgcc_s).
ROOT_PACKAGES = ("python3.11", "libstdc++6", "libgcc-s1")

# Declared dependencies that matter only to maintainer scripts or unrelated tools: not
# entering them keeps perl (~60 MB) and dpkg out of the sysroot.
PRUNE = frozenset(
    {"dpkg", "perl", "perl-base", "perl-modules-5.36", "libperl5.36", "install-info", "tar", "debconf", "mailcap", "mime-support", "readline-common", "debianutils", "sensible-utils"}
)


def apt_options(apt_root: Path) -> list[str]:
    """apt-get/apt-cache options that confine apt to ``apt_root`` and arm64."""
    settings = {
        "Dir::State": apt_root / "state",
        "Dir::State::status": apt_root / "state" / "status",
        "Dir::Cache": apt_root / "cache",
        "Dir::Etc::SourceList": apt_root / "sources.list",
        "Dir::Etc::SourceParts": apt_root / "sources.list.d",
        "Dir::Etc::Preferences": apt_root / "preferences",
        "Dir::Etc::PreferencesParts": apt_root / "preferences.d",
        "APT::Architecture": "arm64",
        "APT::Architectures::": "arm64",
        "APT::Get::List-Cleanup": "0",
    }
    options = [item for key, value in settings.items() for item in ("-o", f"{key}={value}")]
    if os.geteuid() == 0:  # apt's sandbox user _apt cannot write into a root-owned cache
        options += ["-o", "APT::Sandbox::User=root"]
    return options


def sources_list(suite: str = SUITE) -> str:
    signed = f"[arch=arm64 signed-by={KEYRING}]"
    return "".join(f"deb {signed} {mirror} {dist} main\n" for mirror, dist in ((MIRROR, suite), (MIRROR, f"{suite}-updates"), (SECURITY_MIRROR, f"{suite}-security")))


def apt_update(apt_root: Path, suite: str = SUITE, max_age_s: float = 86400) -> list[str]:
    """Create or refresh the private apt root (at most daily); return its options."""
    for sub in ("state/lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
        (apt_root / sub).mkdir(parents=True, exist_ok=True)
    (apt_root / "state" / "status").touch()
    source, stamp, text = apt_root / "sources.list", apt_root / "updated", sources_list(suite)
    options = apt_options(apt_root)
    fresh = stamp.exists() and source.exists() and source.read_text() == text and time.time() - stamp.stat().st_mtime < max_age_s
    if not fresh:
        source.write_text(text)
        _run(["apt-get", *options, "-q", "update"])
        stamp.touch()
    return options


def parse_depends(text: str) -> dict[str, list[str]]:
    """``apt-cache depends`` output -> package -> chosen dependencies.

    The first alternative of an OR group is taken; a virtual package resolves to its
    first listed provider.

    Example:
        >>> parse_depends("a\\n  Depends: b\\n |Depends: c\\n  Depends: d\\n")
        {'a': ['b', 'd']}
    """
    result: dict[str, list[str]] = {}
    current: str | None = None
    in_group = pending_virtual = False
    for line in text.splitlines():
        if not line.startswith(" "):
            current = line.strip().split(":")[0]
            result.setdefault(current, [])
            in_group = pending_virtual = False
            continue
        match = re.match(r"^ ([| ])(Depends|PreDepends): (.+)$", line)
        if match and current is not None:
            name = match.group(3).strip().split(":")[0]
            if not in_group:
                if name.startswith("<"):
                    pending_virtual = True
                else:
                    result[current].append(name)
            in_group = match.group(1) == "|"
        elif pending_virtual and current is not None and line.startswith("    "):
            result[current].append(line.strip().split(":")[0])
            pending_virtual = False
    return result


def resolve_packages(options: Sequence[str], roots: Iterable[str] = ROOT_PACKAGES) -> list[str]:
    """The Depends/PreDepends closure of ``roots`` (no Recommends), minus PRUNE."""
    seen: set[str] = set()
    todo = [r for r in roots if r not in PRUNE]
    while todo:
        batch = [p for p in dict.fromkeys(todo) if p not in seen]
        if not batch:
            break
        seen.update(batch)
        flags = ["--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"]
        out = _run(["apt-cache", *options, "depends", *flags, *batch])
        todo = [d for deps in parse_depends(out).values() for d in deps if d not in seen and d not in PRUNE]
    return sorted(seen)


def download(options: Sequence[str], packages: Sequence[str], dest: Path) -> list[Path]:
    """Download the candidate ``.deb`` of each package into ``dest`` (cached files are reused)."""
    dest.mkdir(parents=True, exist_ok=True)
    shown = _run(["apt-cache", *options, "show", "--no-all-versions", *packages])
    wanted: dict[str, str] = {}
    for block in shown.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Architecture): (.+)$", block, re.M))
        if "Package" in fields:  # apt-get download writes an epoch's ':' as '%3a'
            wanted[fields["Package"]] = f"{fields['Package']}_{fields['Version'].replace(':', '%3a')}_{fields['Architecture']}.deb"
    missing = [p for p in packages if not (dest / wanted.get(p, "-")).exists()]
    if missing:
        _run(["apt-get", *options, "-q", "download", *missing], cwd=dest)
    return [dest / wanted[p] for p in packages]


def package_version(deb: Path) -> tuple[str, str]:
    fields = dict(re.findall(r"^(\w+): (.+)$", _run(["dpkg-deb", "-f", str(deb), "Package", "Version"]), re.M))
    return fields["Package"], fields["Version"]


def extract(debs: Iterable[Path], root: Path) -> None:
    """Unpack each ``.deb`` into ``root`` without running its scripts."""
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(root)])


def _run(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise OSError(f"{' '.join(argv[:1] + argv[-2:])} failed: {tail[-1] if tail else proc.returncode}")
    return proc.stdout
