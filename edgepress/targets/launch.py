"""Run the self-contained measurement worker in a child process and read its answer."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgepress.artifact import Artifact
from edgepress.errors import RuntimeFailure
from edgepress.quiet import log_child_output
from edgepress.targets import measure_worker
from edgepress.targets.base import Measurement, RunSettings

if TYPE_CHECKING:
    import numpy as np

WORKER_FILE = Path(measure_worker.__file__)


def run_worker(
    python: list[str],
    artifact: Artifact,
    inputs: list[np.ndarray],
    settings: RunSettings,
    device: str = "cpu",
    env: dict[str, str] | None = None,
) -> Measurement:
    """Measure ``artifact`` with ``python`` (an argv prefix, e.g. a QEMU command line).

    ``-P`` follows the prefix: neither the working directory nor the worker's own folder
    (``edgepress/targets``, whose ``cpuinfo.py`` could shadow py-cpuinfo) goes on the
    worker's sys.path. The host's and the ARM sysroot's Pythons are 3.11, which know it.
    A worker that dies (segfault, SIGILL, out of memory) or hangs past the timeout
    raises RuntimeFailure describing how it ended; the caller records it as the
    result's error instead of crashing.
    """
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="edgepress-run-") as tmp:
        work = Path(tmp)
        np.savez(work / "in.npz", **{f"in_{i}": a for i, a in enumerate(inputs)})
        request = _request(artifact, settings, device, work)
        (work / "request.json").write_text(json.dumps(request))
        _spawn([*python, "-P", str(WORKER_FILE), str(work / "request.json")], settings.timeout_s, env)
        raw = json.loads((work / "result.json").read_text())
        if raw.get("error"):
            raise RuntimeFailure(f"{artifact.name}: {raw['error']}")
        with np.load(work / "out.npz") as data:
            outputs = [data[f"out_{i}"] for i in range(len(data.files))]
    return Measurement(raw=raw, outputs=outputs)


def _request(artifact: Artifact, settings: RunSettings, device: str, work: Path) -> dict[str, object]:
    return {
        "artifact": str(artifact.path),
        "format": artifact.format.value,
        "inputs": str(work / "in.npz"),
        "outputs": str(work / "out.npz"),
        "result": str(work / "result.json"),
        "device": device,
        **settings.to_dict(),
    }


def _spawn(argv: list[str], timeout_s: float, env: dict[str, str] | None) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        log_child_output("the measurement worker (stopped at the timeout)", exc.stderr, exc.stdout)
        raise RuntimeFailure(f"the runtime did not finish within {timeout_s:.0f} s and was stopped") from None
    log_child_output("the measurement worker", proc.stderr, proc.stdout)
    if proc.returncode != 0:
        raise RuntimeFailure(f"{describe_exit(proc.returncode)}; last output: {_tail(proc.stderr or proc.stdout)}")


def describe_exit(code: int) -> str:
    """Say how a child ended: 'died with SIGILL (illegal instruction)' or 'exited with 3'."""
    if code < 0 or code > 128:
        number = -code if code < 0 else code - 128
        try:
            sig = signal.Signals(number)
        except ValueError:
            return f"the runtime died with signal {number}"
        return f"the runtime died with {sig.name} ({signal.strsignal(sig) or sig.name})"
    return f"the runtime exited with status {code}"


def _tail(text: str, limit: int = 300) -> str:
    text = (text or "").strip().splitlines()
    return (text[-1] if text else "(none)")[-limit:]
