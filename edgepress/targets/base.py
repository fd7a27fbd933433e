"""The Target protocol, run settings, and resolving a target name like ``host-cpu``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edgepress.artifact import Artifact, Format
from edgepress.errors import TargetUnavailableError, unknown_name

if TYPE_CHECKING:
    import numpy as np

RunFn = Callable[[list["np.ndarray"]], list["np.ndarray"]]


@dataclass(frozen=True)
class RunSettings:
    """How to measure: threads, batch, warm-ups and the steady-state bounds.

    Defaults follow TFLite's benchmark_model: at least 50 timed runs and at least one
    second, after warm-ups that are not counted.
    """

    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    batch_size: int = 1
    warmup: int = 5
    min_iters: int = 50
    min_seconds: float = 1.0
    max_seconds: float = 60.0
    timeout_s: float = 900.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Measurement:
    """What a worker measured (its raw JSON) and the outputs it produced on all inputs."""

    raw: dict[str, Any]
    outputs: list[np.ndarray]


@runtime_checkable
class Target(Protocol):
    """Where an artifact runs. ``unavailable_reason`` is None when it can run here."""

    name: str
    emulated: bool

    def unavailable_reason(self) -> str | None: ...

    def format_reason(self, fmt: Format) -> str | None:
        """Why this target cannot run ``fmt`` here (None when it can)."""
        ...

    def load(self, artifact: Artifact) -> RunFn:
        """The artifact as a callable on numpy arrays, in this process where possible."""
        ...

    def measure(self, artifact: Artifact, inputs: list[np.ndarray], settings: RunSettings) -> Measurement: ...


# Target kinds: the name (or prefix before ':') -> "module:factory". Factories take the
# text after the prefix (e.g. the CPU model of arm64-emu) or None.
TARGET_KINDS = {
    "host-cpu": "edgepress.targets.host_cpu:HostCpu",
    "gpu": "edgepress.targets.gpu:Gpu",
    "arm64-emu": "edgepress.targets.arm:Arm64Emu",
    "arm64": "edgepress.targets.arm:Arm64Native",
    "ssh": "edgepress.targets.remote:SshTarget",
}


def resolve(spec: str) -> Target:
    """Build the target a name describes, e.g. ``host-cpu``.

    Example:
        >>> resolve("host-cpu").name
        'host-cpu'
    """
    # 'ssh://user@host:22' has a URL scheme; 'arm64-emu:cortex-a76' a kind and an option.
    separator = "://" if "://" in spec else ":"
    kind, _, option = spec.strip().partition(separator)
    if kind not in TARGET_KINDS:
        raise unknown_name("target", spec, TARGET_KINDS)
    module, _, factory = TARGET_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), factory)(option or None)


def resolve_available(spec: str) -> Target:
    """Like ``resolve`` but raise TargetUnavailableError with the reason when it can't run."""
    target = resolve(spec)
    reason = target.unavailable_reason()
    if reason:
        raise TargetUnavailableError(f"target {target.name!r} is unavailable here: {reason}")
    return target


def known_targets() -> list[Target]:
    """One instance of every target kind, with default options, for listings."""
    return [resolve(kind) for kind in TARGET_KINDS]
