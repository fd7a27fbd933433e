"""Cross-ISA drift: the same artifact's outputs on another target against host-cpu's.

Drift against the reference mixes two causes: what conversion and compression changed,
and what the target's kernels change. Running the very same artifact on the host CPU
separates the second: an ARM build of a runtime that picks other kernels (dot-product
int8, a different GEMM blocking) shows up here even when both agree with the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgepress.drift import compare
from edgepress.errors import EdgepressError
from edgepress.targets.runtimes import missing_runtime_reason

if TYPE_CHECKING:
    import numpy as np

    from edgepress.artifact import Artifact

KEY = "drift_vs_host_cpu"  # where targets put it in a Measurement's raw result


def host_outputs(artifact: Artifact, inputs: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """The artifact's outputs on this machine's CPU, batched as the target ran them."""
    from edgepress.targets import measure_worker
    from edgepress.targets.host_cpu import HostCpu

    run = HostCpu().load(artifact)
    return measure_worker.run_batched(run, inputs, batch_size)


def drift_vs_host(artifact: Artifact, inputs: list[np.ndarray], outputs: list[np.ndarray], batch_size: int) -> dict[str, Any]:
    """Drift of ``outputs`` (from another target) against host-cpu's, as a plain dict.

    When the host cannot run the format, or the host run fails, the dict carries an
    ``error`` instead: cross-ISA drift is a diagnostic, never a reason to fail a cell.

    Example:
        >>> drift_vs_host(art, inputs, emulated_outputs, 1)["max_abs"]
        9.5e-07
    """
    reason = missing_runtime_reason(artifact.format)
    if reason:
        return {"error": f"host-cpu cannot run it: {reason}"}
    try:
        return compare(outputs, host_outputs(artifact, inputs, batch_size)).to_dict()
    except (EdgepressError, RuntimeError, ValueError) as exc:
        return {"error": f"host-cpu run failed: {str(exc).splitlines()[0][:200]}"}
