"""An aarch64 CPython sysroot that runs under ``qemu-aarch64-static``, built on first use.

Debian's arm64 ``python3.11`` and its libraries are unpacked into a directory with the
aarch64 wheels of numpy, ONNX Runtime and LiteRT beside them (``usr/local/lib/
python3.11/dist-packages``, which Debian's ``site.py`` already puts on ``sys.path``). QEMU
runs the interpreter with ``-L SYSROOT``: the ELF loader and every absolute path are
looked up in the sysroot first, so no PYTHONHOME, PYTHONPATH or LD_LIBRARY_PATH is
needed. Each CPU model gets a view of the sysroot with its own ``proc/cpuinfo``
(see :mod:`edgepress.targets.cpuinfo`).

The sysroot lives in ``$EDGEPRESS_CACHE/arm64`` (default ``~/.cache/edgepress/arm64``);
it is assembled in a temporary directory, verified by importing every runtime under
QEMU, and only then renamed into place, so a half-built sysroot is never used.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from edgepress.errors import RuntimeFailure, TargetUnavailableError
from edgepress.quiet import user_stderr
from edgepress.targets import debian
from edgepress.targets.cpuinfo import KNOWN_CPUS, cpuinfo_text
from edgepress.targets.qemu import PYVER, QEMU, qemu_version, run_python

Progress = Callable[[str], None]
FORMAT_VERSION = 1
MARKER = "edgepress-sysroot.json"
BASE_WHEELS = ("numpy==2.4.6", "onnxruntime==1.32.0", "ai-edge-litert==2.3.0")
# ExecuTorch's runtime links libtorch, and PyPI's aarch64 torch >= 2.10 is a CUDA build
# (gigabytes of NVIDIA libraries); torch 2.9.1 is the newest CPU-only one, and
# executorch 1.0.1 is the release that pins it. The rest is what `import torch` needs.
EXECUTORCH_WHEELS = (
    "executorch==1.0.1", "torch==2.9.1", "typing-extensions", "sympy", "mpmath==1.3.0", "filelock", "networkx",
    "jinja2", "markupsafe", "fsspec", "packaging", "flatbuffers", "pyyaml", "ruamel.yaml", "tabulate",
)  # fmt: skip
AARCH64_PLATFORMS = ("manylinux2014_aarch64", *(f"manylinux_2_{v}_aarch64" for v in (17, 24, 26, 27, 28, 31, 34, 35, 36)))
VERIFY_SCRIPT = """
import importlib.metadata as md, json, platform, sys
import numpy, onnxruntime
from ai_edge_litert import interpreter
out = {"machine": platform.machine(), "python": platform.python_version()}
for dist in ("numpy", "onnxruntime", "ai-edge-litert", "executorch", "torch"):
    try:
        out[dist] = md.version(dist)
    except md.PackageNotFoundError:
        pass
if "executorch" in sys.argv:
    import torch, executorch.runtime
print(json.dumps(out))
"""


def cache_root() -> Path:
    """Where sysroots are kept: ``$EDGEPRESS_CACHE/arm64`` or ``~/.cache/edgepress/arm64``."""
    from edgepress import cachedir

    return cachedir.part("arm64").expanduser().resolve()


def wheels_for(executorch: bool) -> tuple[str, ...]:
    return BASE_WHEELS + (EXECUTORCH_WHEELS if executorch else ())


def sysroot_path(executorch: bool = False, cache: Path | None = None) -> Path:
    """The directory of the sysroot with these wheels (it may not exist yet)."""
    blob = json.dumps([FORMAT_VERSION, debian.SUITE, PYVER, debian.ROOT_PACKAGES, sorted(debian.PRUNE), wheels_for(executorch)])
    key = hashlib.sha256(blob.encode()).hexdigest()[:10]
    return (cache or cache_root()) / f"aarch64-py{PYVER.replace('.', '')}-{debian.SUITE}-{key}"


def read_marker(root: Path) -> dict | None:
    """The build record of a finished, verified sysroot (None when absent or unreadable)."""
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def missing_tools() -> list[str]:
    """Host commands that building and running the sysroot need but cannot be found."""
    needed = [QEMU, "apt-get", "apt-cache", "dpkg-deb"]
    return [tool for tool in needed if shutil.which(tool) is None]


def ensure(executorch: bool = False, progress: Progress | None = None, cache: Path | None = None) -> Path:
    """The verified sysroot, built first if it is not in the cache yet.

    Example:
        >>> root = ensure(progress=print)   # ~40 s the first time, instant afterwards
        >>> read_marker(root)["verified"]["onnxruntime"]
        '1.32.0'
    """
    root = sysroot_path(executorch, cache)
    if _usable(root):
        return root
    missing = missing_tools()
    if missing:
        raise TargetUnavailableError(f"building the aarch64 sysroot needs {', '.join(missing)}: apt-get install qemu-user-static apt dpkg (make setup does)")
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others then reuse its sysroot
        if not _usable(root):
            _build(root, wheels_for(executorch), executorch, progress or _stderr)
    return root


def _stderr(message: str) -> None:
    """Default progress: one line per build step on stderr (a build takes a minute or two)."""
    print(f"arm64 sysroot: {message}", file=user_stderr(), flush=True)  # not the log: the user waits on it


def _usable(root: Path) -> bool:
    marker = read_marker(root)
    return bool(marker and marker.get("verified") and (root / "usr" / "bin" / f"python{PYVER}").exists())


def _build(root: Path, wheels: Sequence[str], executorch: bool, progress: Progress) -> None:
    start = time.monotonic()
    cache = root.parent
    for stale in (*cache.glob(".tmp-*"), *cache.glob(".old-*")):
        shutil.rmtree(stale, ignore_errors=True)  # leftovers of an interrupted build (the lock is ours)
    progress(f"building the aarch64 sysroot in {root} (one time; about {'1-2 min' if executorch else '40 s'})")
    try:
        options = debian.apt_update(cache / "apt")
        packages = debian.resolve_packages(options)
        progress(f"downloading {len(packages)} Debian arm64 packages and {len(wheels)} aarch64 wheels")
        debs = debian.download(options, packages, cache / "downloads" / "debs")
        files = download_wheels(wheels, cache / "downloads" / "wheels")
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeFailure(f"could not fetch the aarch64 sysroot's packages (needs deb.debian.org and PyPI): {exc}") from None
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache))
    try:
        _assemble(tmp, debs, files, progress)
        progress("verifying: importing numpy, onnxruntime and LiteRT under QEMU")
        verified = verify(tmp, executorch=executorch)
        record = {"format": FORMAT_VERSION, "wheels": list(wheels), "debs": dict(map(debian.package_version, debs)), "qemu": qemu_version(), "verified": verified}
        record["build_seconds"] = round(time.monotonic() - start, 1)
        (tmp / MARKER).write_text(json.dumps(record, indent=1, sort_keys=True))
        _swap_in(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(f"aarch64 sysroot ready in {time.monotonic() - start:.0f} s")


def _assemble(tmp: Path, debs: list[Path], wheels: list[Path], progress: Progress) -> None:
    os.chmod(tmp, 0o755)  # mkdtemp makes it private
    progress("unpacking")
    debian.extract(debs, tmp)
    site = site_packages(tmp)
    site.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        install_wheel(wheel, site)
    (tmp / "proc").mkdir()
    (tmp / "proc" / "cpuinfo").write_text(cpuinfo_text(KNOWN_CPUS["cortex-a76"]))
    progress("precompiling the Python files")
    _precompile(tmp)


def _swap_in(tmp: Path, root: Path) -> None:
    """Rename the finished sysroot into place, replacing a stale one and its views."""
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=".old-", dir=root.parent))
        os.rename(root, old / "stale")
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(root.parent / "views" / root.name, ignore_errors=True)
    os.rename(tmp, root)


def site_packages(root: Path) -> Path:
    return root / "usr" / "local" / "lib" / f"python{PYVER}" / "dist-packages"


def download_wheels(requirements: Sequence[str], dest: Path) -> list[Path]:
    """Download cp311 aarch64 (or pure-Python) wheels with the host's pip, no dependencies."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-P", "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", PYVER]
    argv += ["--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none", "-d", str(dest)]
    argv += [item for platform in (*AARCH64_PLATFORMS, "any") for item in ("--platform", platform)]
    proc = subprocess.run([*argv, *requirements], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"pip download failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return [_find_wheel(dest, requirement) for requirement in requirements]


def _find_wheel(dest: Path, requirement: str) -> Path:
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "_", name).lower()

    name, _, version = requirement.partition("==")
    found = [w for w in dest.glob("*.whl") if norm(w.name.split("-")[0]) == norm(name) and (not version or w.name.split("-")[1] == version)]
    if not found:
        raise OSError(f"no aarch64 wheel for {requirement} in {dest}")
    return max(found, key=lambda w: w.stat().st_mtime)


def install_wheel(wheel: Path, site: Path) -> None:
    """Unzip a wheel into ``site``; its ``.data/purelib`` and ``platlib`` are merged in."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: not needed to import
                parts = parts[2:]
            target = site.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)


def _precompile(root: Path) -> None:
    """Write .pyc files (they are architecture independent): emulated imports get ~2x faster."""
    dirs = [str(root / "usr" / "lib" / f"python{PYVER}"), str(site_packages(root))]
    if sys.version_info[:2] == (3, 11):  # the same bytecode magic as the guest's 3.11
        skip = r"(lib2to3/tests|/test/|/tests/|idlelib|tkinter|turtledemo)"
        subprocess.run([sys.executable, "-P", "-m", "compileall", "-q", "-j0", "-x", skip, *dirs], capture_output=True)
    else:
        run_python(root, "cortex-a76", ["-m", "compileall", "-q", *dirs], timeout=3600, bytecode=True)


def verify(root: Path, cpu: str = "cortex-a76", executorch: bool = False) -> dict[str, str]:
    """Import every runtime in the guest; return the versions it reports."""
    from edgepress.targets.launch import describe_exit

    proc = run_python(root, cpu, ["-c", VERIFY_SCRIPT, *(["executorch"] if executorch else [])])
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeFailure(f"the aarch64 sysroot failed its check: {describe_exit(proc.returncode)}: {tail}")
    return json.loads(lines[-1])
