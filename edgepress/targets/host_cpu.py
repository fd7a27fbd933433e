"""``host-cpu``: this machine's CPU, each format in its own runtime, in a worker process."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError, RuntimeFailure
from edgepress.targets import measure_worker
from edgepress.targets.base import Measurement, RunFn, RunSettings
from edgepress.targets.launch import run_worker
from edgepress.targets.runtimes import missing_runtime_reason

if TYPE_CHECKING:
    import numpy as np


class HostCpu:
    """Runs artifacts on the host CPU (ONNX Runtime, LiteRT, ExecuTorch, torch)."""

    name = "host-cpu"
    emulated = False

    def __init__(self, option: str | None = None) -> None:
        if option:
            raise BadInputError(f"target host-cpu takes no option (got {option!r})")

    def unavailable_reason(self) -> str | None:
        return None

    def format_reason(self, fmt: Format) -> str | None:
        return missing_runtime_reason(fmt)

    def load(self, artifact: Artifact) -> RunFn:
        reason = self.unavailable_reason() or self.format_reason(artifact.format)
        if reason:
            raise RuntimeFailure(reason)
        run, _, _ = measure_worker.load_runner(artifact.format.value, str(artifact.path), 1)
        return run

    def measure(self, artifact: Artifact, inputs: list[np.ndarray], settings: RunSettings) -> Measurement:
        # Subclasses (arm64 on an aarch64 host) share this worker; on any other host its
        # figures would be this CPU's under the target's name.
        reason = self.unavailable_reason() or self.format_reason(artifact.format)
        if reason:
            raise RuntimeFailure(reason)
        return run_worker([sys.executable], artifact, inputs, settings)
