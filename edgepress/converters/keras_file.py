"""``convert.keras_file``: an in-memory Keras model -> a ``.keras`` file (Keras v3 format).

Both Keras 3 and tf-keras write the v3 archive; its metadata records which one wrote it,
so loading it back (with ``safe_mode=True``) picks the right Keras. A tf-keras model from
quantization-aware training (TF-MOT) is written as ``.h5`` instead (see ``run``).
"""

from __future__ import annotations

import warnings
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
        from edgepress.quantization import Mode

        # TF-MOT's quantize layers do not load back from the v3 archive (their variables are
        # saved once but expected twice); they do from HDF5, inside TF-MOT's quantize_scope.
        suffix = ".h5" if artifact.quant is not None and artifact.quant.mode is Mode.QAT else None
        return convert_with(self, artifact, out_dir, Format.KERAS, _write, lambda _: artifact.input_spec, suffix)


def _write(source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
    from edgepress.intake.keras import keras_model

    held = keras_model(source)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy")  # chosen on purpose for TF-MOT models (see run)
        held.model.save(str(path))
    return (), {"keras_flavor": held.flavor}  # a quantized handle's QuantSpec travels in the sidecar (convert_with)
