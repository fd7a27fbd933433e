"""``arm64-emu[:CPU]`` (aarch64 under QEMU user-mode emulation) and ``arm64`` (an aarch64 host).

The emulated target runs the same self-contained worker with an aarch64 CPython and
the aarch64 builds of ONNX Runtime, LiteRT and ExecuTorch (see
:mod:`edgepress.targets.sysroot`). It answers two questions: does the artifact load and
run on ARM kernels for this CPU, and how far do its outputs drift from the reference
and from the same artifact on host-cpu. Its timings are emulation timings: results are
flagged ``emulated`` and never used for speed claims. A runtime that dies on a CPU model
(SIGILL, SIGSEGV) is that cell's error, e.g. "ai-edge-litert 2.3.0 on
arm64-emu:cortex-a72: the runtime died with SIGILL (Illegal instruction)".
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from edgepress.artifact import Artifact, Format
from edgepress.crossdrift import KEY, drift_vs_host
from edgepress.errors import BadInputError, RuntimeFailure, unknown_name
from edgepress.quiet import user_stderr
from edgepress.targets import qemu, sysroot
from edgepress.targets.base import Measurement, RunFn, RunSettings
from edgepress.targets.host_cpu import HostCpu
from edgepress.targets.launch import run_worker
from edgepress.targets.runtimes import RUNTIMES

if TYPE_CHECKING:
    import numpy as np

DEFAULT_CPU = "cortex-a76"
# CPU model -> (QEMU -cpu value, what it stands for)
CPU_MODELS: dict[str, tuple[str, str]] = {
    "cortex-a53": ("cortex-a53", "ARMv8.0, in-order (Raspberry Pi 3, many phones' little cores)"),
    "cortex-a57": ("cortex-a57", "ARMv8.0 (Jetson TX1/Nano)"),
    "cortex-a72": ("cortex-a72", "ARMv8.0 (Raspberry Pi 4)"),
    "cortex-a76": ("cortex-a76", "ARMv8.2 with dot product (Raspberry Pi 5)"),
    "neoverse-n1": ("neoverse-n1", "ARMv8.2 with dot product (AWS Graviton2)"),
    "a64fx": ("a64fx", "ARMv8.2 with 512-bit SVE (Fujitsu A64FX)"),
    # QEMU 7.2's SME emulation gives XNNPACK's SME int8 kernels wrong results (75 LSB off
    # where every real-core model is bit-exact), so 'max' is every feature but SME.
    "max": ("max,sme=off", "every feature QEMU 7.2 emulates (SVE2, I8MM, BF16) except SME"),
}
EMULATED_FORMATS = (Format.ONNX, Format.TFLITE, Format.EXECUTORCH)


def _progress(message: str) -> None:
    print(f"edgepress: {message}", file=user_stderr(), flush=True)  # not the log: the user waits on it


class Arm64Emu:
    """An aarch64 CPU model emulated by qemu-aarch64-static; correctness and drift, not speed."""

    emulated = True

    def __init__(self, option: str | None = None) -> None:
        self.cpu = option or DEFAULT_CPU
        if self.cpu not in CPU_MODELS:
            raise unknown_name("arm64-emu CPU model", self.cpu, CPU_MODELS)
        self.qemu_cpu = CPU_MODELS[self.cpu][0]
        self.name = f"arm64-emu:{self.cpu}"

    def unavailable_reason(self) -> str | None:
        if platform.system() != "Linux":
            return f"QEMU user-mode emulation needs a Linux host (this is {platform.system()})"
        missing = sysroot.missing_tools()
        if missing:
            return f"{', '.join(missing)} not found: apt-get install qemu-user-static (make setup does)"
        return None

    def format_reason(self, fmt: Format) -> str | None:
        if fmt not in EMULATED_FORMATS:
            return f"{fmt.value} artifacts have no aarch64 runtime in the emulation sysroot; measure the .onnx, .tflite or .pte"
        return None

    def load(self, artifact: Artifact) -> RunFn:
        raise RuntimeFailure(f"{self.name} runs artifacts in an emulated process only; use measure() (edgepress bench)")

    def measure(self, artifact: Artifact, inputs: list[np.ndarray], settings: RunSettings) -> Measurement:
        reason = self.unavailable_reason() or self.format_reason(artifact.format)
        if reason:
            raise RuntimeFailure(reason)
        root = sysroot.ensure(executorch=artifact.format == Format.EXECUTORCH, progress=_progress)
        runtime = self._runtime_label(root, artifact.format)
        try:
            measured = run_worker(qemu.python_argv(root, self.qemu_cpu), artifact, inputs, settings, env=qemu.guest_env())
        except RuntimeFailure as exc:
            raise RuntimeFailure(f"{runtime} on {self.name}: {exc}") from None
        env = measured.raw["env"]
        env.pop("board", None)  # QEMU shows the host's /sys: its governor and temperatures are not the guest's
        env.update(emulated=True, cpu_model=self.cpu, qemu_cpu=self.qemu_cpu, qemu=qemu.qemu_version())
        batch = getattr(settings, "eval_batch_size", None) or settings.batch_size
        measured.raw[KEY] = drift_vs_host(artifact, inputs, measured.outputs, batch)
        return measured

    @staticmethod
    def _runtime_label(root, fmt: Format) -> str:
        name = RUNTIMES[fmt].package  # the sysroot records versions by pip package
        version = (sysroot.read_marker(root) or {}).get("verified", {}).get(name)
        return f"{name} {version}" if version else name


class Arm64Native(HostCpu):
    """The host's own CPU when the host is aarch64: the same worker, natively."""

    name = "arm64"
    emulated = False

    def __init__(self, option: str | None = None) -> None:
        if option:
            raise BadInputError(f"target arm64 takes no option (got {option!r}); CPU models are for arm64-emu:CPU")

    def unavailable_reason(self) -> str | None:
        machine = platform.machine().lower()
        if machine not in ("aarch64", "arm64"):
            return f"the host is {machine}, not aarch64: use arm64-emu[:CPU] to emulate one, or ssh://user@host for a board"
        return None
