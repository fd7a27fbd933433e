"""The post-training Python API: convert a model into edge formats.

``from_torch`` / ``load`` (intake) and ``bench`` (measurement) live in their own
modules; all are re-exported from ``edgepress``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError
from edgepress.passes import Pass, apply, registry


def converter_for(target: Format, source: Format) -> Pass:
    """The registered converter producing ``target`` from ``source``, with default options."""
    candidates = [cls() for name, cls in registry().items() if name.startswith("convert.")]
    makes = [p for p in candidates if p.output_format(source) is target]
    for p in makes:
        if source in p.accepts:
            return p
    if not makes:
        raise BadInputError(f"edgepress has no converter to {target.value} yet")
    sources = sorted({f.value for p in makes for f in p.accepts})
    raise BadInputError(f"no converter makes {target.value} from a {source.value} model (it can from: {', '.join(sources)})")


def convert(model: Artifact, formats: Sequence[str | Format] | str, out_dir: str | Path = "out") -> list[Artifact]:
    """Convert ``model`` into each format, writing files under ``out_dir``.

    Outputs are content-addressed: converting the same model with the same options
    again reuses the existing file.

    Example:
        >>> m = edgepress.from_torch(net, torch.randn(1, 3, 32, 32))
        >>> [a.format.value for a in edgepress.convert(m, ["onnx"], out_dir="out")]
        ['onnx']
    """
    wanted = [formats] if isinstance(formats, (str, Format)) else list(formats)
    targets = [f if isinstance(f, Format) else Format.parse(f) for f in wanted]
    passes = [converter_for(fmt, model.format) for fmt in targets]  # check all before any work
    return [apply(p, model, Path(out_dir)) for p in passes]
