"""Passes that fail on purpose, loaded through EDGEPRESS_PLUGINS by the isolation tests."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.passes import register


@register
@dataclass(frozen=True)
class SegfaultingConverter:
    """Dies the way a native converter crash does: SIGSEGV."""

    name: ClassVar[str] = "test.segfault"
    summary: ClassVar[str] = "dies with SIGSEGV"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH_EXPORT})

    def output_format(self, source: Format) -> Format:
        return Format.ONNX

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        (out_dir / "half-written.onnx").write_bytes(b"\x08")
        os.kill(os.getpid(), signal.SIGSEGV)
        raise AssertionError("unreachable")


@register
@dataclass(frozen=True)
class HangingConverter:
    """Never finishes."""

    name: ClassVar[str] = "test.hang"
    summary: ClassVar[str] = "sleeps forever"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH_EXPORT})

    def output_format(self, source: Format) -> Format:
        return Format.ONNX

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        time.sleep(3600)
        raise AssertionError("unreachable")
