"""Running the aarch64 sysroot's Python under ``qemu-aarch64-static``: where QEMU's command line is built.

QEMU user-mode emulation runs the guest interpreter with ``-L VIEW``, a view of the
sysroot whose ``proc/cpuinfo`` describes the emulated CPU model (``-cpu``), so runtimes
that read it (ONNX Runtime, XNNPACK) pick the kernels that CPU has. The host's Python
variables never leak into the guest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from edgepress.errors import RuntimeFailure
from edgepress.targets.cpuinfo import KNOWN_CPUS, cpuinfo_text

QEMU = "qemu-aarch64-static"
PYVER = "3.11"  # the guest Python the sysroot carries (Debian's arm64 python3.11)


def qemu_version() -> str:
    exe = shutil.which(QEMU)
    out = subprocess.run([exe or QEMU, "--version"], capture_output=True, text=True).stdout if exe else ""
    return out.splitlines()[0] if out else "unknown"


def cpu_view(root: Path, cpu: str) -> Path:
    """A ``-L`` prefix for one CPU model: symlinks to the sysroot plus its own proc/cpuinfo."""
    view = root.parent / "views" / root.name / cpu.replace(",", "_").replace("=", "-")
    if (view / "proc" / "cpuinfo").exists():
        return view
    view.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".view-", dir=view.parent))
    os.chmod(tmp, 0o755)
    for entry in root.iterdir():
        if entry.name != "proc":
            (tmp / entry.name).symlink_to(os.path.relpath(entry, view))
    (tmp / "proc").mkdir()
    (tmp / "proc" / "cpuinfo").write_text(cpuinfo_text(KNOWN_CPUS[cpu]))
    try:
        os.rename(tmp, view)
    except OSError:  # another process made the same view first
        shutil.rmtree(tmp, ignore_errors=True)
    return view


def python_argv(root: Path, cpu: str) -> list[str]:
    """The argv prefix that runs the sysroot's Python on the emulated ``cpu``.

    ``sh`` sets the core-file limit to 0 first: QEMU would otherwise write a core file
    into the working directory whenever the guest dies of a signal. ``exec`` keeps the
    signal visible in the exit status.
    """
    view = cpu_view(root, cpu)
    python = view / "usr" / "bin" / f"python{PYVER}"
    return ["/bin/sh", "-c", 'ulimit -c 0; exec "$@"', "qemu", QEMU, "-cpu", cpu, "-L", str(view), str(python), "-s"]


def guest_env(bytecode: bool = False) -> dict[str, str]:
    """The host's environment minus what must not leak into the guest (PYTHON*, QEMU_*, LD_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QEMU_", "LD_", "VIRTUAL_ENV", "CONDA"))}
    env.update(PYTHONNOUSERSITE="1", LC_ALL="C.UTF-8", PYTHONUNBUFFERED="1")
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # the shared sysroot stays read-only
    return env


def run_python(root: Path, cpu: str, args: Sequence[str], timeout: float = 600, bytecode: bool = False) -> subprocess.CompletedProcess:
    """Run the guest Python with ``args`` (e.g. ``["-c", "print(1)"]``) on ``cpu``."""
    try:
        return subprocess.run([*python_argv(root, cpu), "-P", *args], capture_output=True, text=True, timeout=timeout, env=guest_env(bytecode))
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"the emulated Python did not finish within {timeout:.0f} s") from None
