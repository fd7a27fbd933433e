"""``convert.pt2``: an in-memory PyTorch model -> a torch.export ``.pt2`` archive.

The ``.pt2`` is the portable, code-free form of a PyTorch model: every other PyTorch
converter starts from the same ExportedProgram, and ``--ref model.pt2`` makes it the
reference on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.converters.common import convert_with, torch_program
from edgepress.passes import register


@register
@dataclass(frozen=True)
class ConvertTorchExport:
    """Save a torch.export ExportedProgram (dynamic batch where the model allows it)."""

    name: ClassVar[str] = "convert.pt2"
    summary: ClassVar[str] = "PyTorch module -> torch.export .pt2 archive"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH})
    methods: ClassVar[dict[Format, str]] = {Format.TORCH: "torch.export.save"}

    def output_format(self, source: Format) -> Format:
        return Format.TORCH_EXPORT

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        return convert_with(self, artifact, out_dir, Format.TORCH_EXPORT, _write, lambda _: artifact.input_spec)


def _write(source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
    import torch

    torch.export.save(torch_program(source), str(path))
    # the file is the float program; a quantized handle's QuantSpec travels in its sidecar (convert_with)
    return (), {"converter": f"torch.export {torch.__version__}"}
