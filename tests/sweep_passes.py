"""A compression-like pass for sweep tests, loaded through EDGEPRESS_PLUGINS (or a grid's plugins)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.passes import describe, register


@register
@dataclass(frozen=True)
class RoundWeights:
    """Rounds every parameter to ``decimals`` places: a crude quantizer with a real accuracy cost."""

    name: ClassVar[str] = "test.round_weights"
    summary: ClassVar[str] = "round weights to N decimals (tests only)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH})

    decimals: int = 2

    def output_format(self, source: Format) -> Format:
        return source

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        import torch

        from edgepress.intake.torch import from_torch

        module = copy.deepcopy(artifact.model.module).eval()
        with torch.no_grad():
            for param in module.parameters():
                param.copy_(torch.round(param, decimals=self.decimals))
        name = str(artifact.report.get("name", "model"))
        made = from_torch(module, artifact.model.example_inputs, name=name)
        return made.derive(lineage=(*artifact.lineage, describe(self)), report={"name": name})
