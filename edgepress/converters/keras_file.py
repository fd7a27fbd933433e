"""``convert.keras_file``: an in-memory Keras model -> a ``.keras`` file (Keras v3 format).

Both Keras 3 and tf-keras write the v3 archive; its metadata records which one wrote it,
so loading it back (with ``safe_mode=True``) picks the right Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.converters.common import convert_with
from edgepress.passes import register


@register
@dataclass(frozen=True)
class ConvertKerasFile:
    """Save a Keras model as ``.keras``."""

    name: ClassVar[str] = "convert.keras_file"
    summary: ClassVar[str] = "Keras model in memory -> .keras file (v3 format, safe to load)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.KERAS})

    def output_format(self, source: Format) -> Format:
        return Format.KERAS

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        return convert_with(self, artifact, out_dir, Format.KERAS, _write, lambda _: artifact.input_spec)


def _write(source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
    from edgepress.keras_models import keras_model

    from edgepress.compress.pt2e import carried

    held = keras_model(source)
    held.model.save(str(path))
    return (), {"keras_flavor": held.flavor, **carried(source)}  # a quantization recipe travels with the file
