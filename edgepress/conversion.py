"""``edgepress.convert``: a model into edge formats, the format list it reads, and the conversion matrix.

``from_torch`` / ``load`` (intake) and ``bench`` (measurement) live in their own
modules; all are re-exported from ``edgepress``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError, ConversionError, EdgepressError
from edgepress.passes import Pass, apply, registry

# In-memory sources are saved so converters can run in a child process; the saved file's
# hash keys what is made from it. They are saved in the edgepress cache (its bounded
# "sources" part, by the model's digest), not in out_dir: the key holds from one run to
# the next, and no hidden copy of the model is left in every output folder.
SAVERS = {Format.TORCH: "convert.pt2", Format.KERAS: "convert.keras_file"}


@dataclass(frozen=True)
class ConversionFailure:
    """A format that could not be made, and why (from ``convert(..., errors="collect")``)."""

    format: Format
    pass_name: str
    error: str


def converters() -> list[Pass]:
    """Every registered converter (``convert.*`` pass) with default options."""
    return [cls() for name, cls in registry().items() if name.startswith("convert.")]


def formats_from(source: Format) -> list[Format]:
    """The formats edgepress can make from a ``source`` model."""
    made = {p.output_format(source) for p in converters() if source in p.accepts}
    return sorted((f for f in made if f is not source), key=lambda f: f.value)


_NO_SCRIPT = "torch.export cannot take a TorchScript module"
# Why a (source, target) pair has no converter, for errors and the published matrix.
UNSUPPORTED_WHY = {
    (Format.KERAS, Format.EXECUTORCH): "ExecuTorch lowers torch.export programs only; convert a Keras model to TFLite or ONNX instead",
    (Format.KERAS, Format.TORCHSCRIPT_LITE): "TorchScript is PyTorch-only; convert a Keras model to TFLite or ONNX instead",
    (Format.KERAS, Format.TORCH_EXPORT): "torch.export needs a PyTorch model; convert a Keras model to TFLite or ONNX instead",
    (Format.ONNX, Format.TFLITE): "no maintained ONNX -> TFLite converter; convert the original PyTorch or Keras model instead",
    (Format.ONNX, Format.EXECUTORCH): "ExecuTorch needs the PyTorch model; convert the original PyTorch model instead",
    (Format.ONNX, Format.TORCHSCRIPT_LITE): "TorchScript needs the PyTorch model; convert the original PyTorch model instead",
    (Format.ONNX, Format.TORCH_EXPORT): "edgepress does not import ONNX into PyTorch; start from the PyTorch model",
    (Format.TORCHSCRIPT, Format.TFLITE): f"litert-torch converts torch.export programs and {_NO_SCRIPT}; export the original nn.Module with torch.export, save it as .pt2 and convert that (or convert this file to onnx)",
    (Format.TORCHSCRIPT, Format.EXECUTORCH): f"ExecuTorch lowers torch.export programs and {_NO_SCRIPT}; export the original nn.Module with torch.export, save it as .pt2 and convert that (or convert this file to onnx)",
    (Format.TORCHSCRIPT, Format.TORCH_EXPORT): f"{_NO_SCRIPT}; export the original nn.Module with torch.export.export and save it with torch.export.save",
}
MATRIX_SOURCES = (Format.TORCH, Format.TORCH_EXPORT, Format.TORCHSCRIPT, Format.KERAS, Format.ONNX)
MATRIX_TARGETS = (Format.ONNX, Format.TFLITE, Format.EXECUTORCH, Format.TORCHSCRIPT_LITE, Format.TORCH_EXPORT)


def converter_for(target: Format, source: Format) -> Pass:
    """The registered converter producing ``target`` from ``source``, with default options."""
    for p in converters():
        if source in p.accepts and p.output_format(source) is target:
            return p
    can = ", ".join(f.value for f in formats_from(source)) or "nothing"
    why = UNSUPPORTED_WHY.get((source, target), f"from {source.value} edgepress makes: {can}")
    raise BadInputError(f"edgepress cannot convert a {source.value} model to {target.value}: {why}")


def conversion_matrix() -> str:
    """The source x format table (Markdown) of what converts and how, from the registry, then the language-model routes."""
    lines = ["| source | " + " | ".join(f.value for f in MATRIX_TARGETS) + " |", "|---" * (len(MATRIX_TARGETS) + 1) + "|"]
    for source in MATRIX_SOURCES:
        cells = []
        for target in MATRIX_TARGETS:
            try:
                p = converter_for(target, source)
                cells.append(f"yes: {getattr(p, 'methods', {}).get(source, p.name)} (`{p.name}`)")
            except BadInputError:
                cells.append("-" if source is target else f"no: {UNSUPPORTED_WHY.get((source, target), 'no converter')}")
        lines.append(f"| {source.value} | " + " | ".join(cells) + " |")
    from edgepress.lm.routes import matrix_rows

    return "\n".join(lines + matrix_rows(MATRIX_TARGETS))


def convert(
    model: Artifact,
    formats: Sequence[str | Format] | str,
    out_dir: str | Path = "out",
    *,
    isolate: bool = True,
    timeout_s: float = 1800.0,
    errors: Literal["raise", "collect"] = "raise",
) -> list[Artifact | ConversionFailure]:
    """Convert ``model`` into each format, writing files under ``out_dir``.

    Each converter runs in its own child process (``isolate``) with a timeout, so one
    that crashes or hangs costs only its own format. Outputs are content-addressed:
    converting the same model with the same options again reuses the existing file.

    Args:
        model: from ``edgepress.from_torch`` / ``edgepress.load``.
        formats: names like ``["onnx", "tflite"]``, or ``"all"`` for every format the
            model can go to.
        out_dir: output folder.
        isolate: run converters in child processes (recommended).
        timeout_s: per-converter time limit when isolated.
        errors: ``"raise"`` raises ConversionError after trying every format if any
            failed; ``"collect"`` returns a ConversionFailure in that format's place.

    Example:
        >>> m = edgepress.from_torch(net, torch.randn(1, 3, 32, 32))
        >>> [a.format.value for a in edgepress.convert(m, ["onnx"], out_dir="out")]
        ['onnx']
    """
    targets = resolve_formats(formats, model.format, model)
    passes = [converter_for(fmt, model.format) for fmt in targets]  # check all before any work
    refuse_unfit(model, targets)
    out = Path(out_dir)
    source = _saved_source(model, out, targets) if isolate else model
    made = [_convert_one(p, model, source, out, isolate, timeout_s) for p in passes]
    failures = [m for m in made if isinstance(m, ConversionFailure)]
    if failures and errors == "raise":
        summary = "; ".join(f"{f.format.value}: {f.error}" for f in failures)
        raise ConversionError(f"{len(failures)} of {len(made)} conversion(s) failed: {summary}")
    return made


def resolve_formats(formats: Sequence[str | Format] | str, source: Format, model: Artifact | None = None) -> list[Format]:
    """Parse format names; ``"all"`` means every format ``source`` can go to (that can hold ``model``)."""
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    if [str(n).strip().lower() for n in names] == ["all"]:
        return [f for f in formats_from(source) if model is None or unfit_reason(model, f) is None]
    return [n if isinstance(n, Format) else Format.parse(n) for n in names]


def unfit_reason(model: Artifact, fmt: Format) -> str | None:
    """Why ``fmt`` cannot hold this particular model (a dynamic length it would freeze), or None."""
    from edgepress.converters.shapes import refusal

    return refusal(model, fmt)


def skipped_by_all(model: Artifact) -> dict[Format, str]:
    """The formats ``"all"`` leaves out for ``model``, with the reason for each."""
    reasons = {f: unfit_reason(model, f) for f in formats_from(model.format)}
    return {f: why for f, why in reasons.items() if why}


def refuse_unfit(model: Artifact, targets: Sequence[Format]) -> None:
    """BadInputError before any work when a requested format cannot hold the model."""
    for fmt in targets:
        why = unfit_reason(model, fmt)
        if why:
            raise BadInputError(why)


def _saved_source(model: Artifact, out: Path, targets: list[Format]) -> Artifact:
    """A file form of an in-memory model (the .pt2 itself when the user asked for one)."""
    if model.path is not None:
        return model
    from edgepress import cachedir

    saver = registry()[SAVERS[model.format]]()
    if saver.output_format(model.format) in targets:
        return apply(saver, model, out)
    folder = cachedir.part("sources") / model.sha256[:32]
    saved = apply(saver, model, folder)
    cachedir.used(folder)
    cachedir.bound("sources", keep=folder)
    return saved


def _convert_one(p: Pass, model: Artifact, source: Artifact, out: Path, isolate: bool, timeout_s: float) -> Artifact | ConversionFailure:
    from edgepress.isolation import run_isolated

    fmt = p.output_format(model.format)
    if source.format is fmt and source.path is not None and source.path.parent == out:
        return source  # the saved source is this very artifact
    try:
        if isolate and p.output_format(source.format) is fmt and source.format in p.accepts:
            return run_isolated(p, source, out, timeout_s)
        return apply(p, model, out)
    except BadInputError:
        raise
    except EdgepressError as exc:
        return ConversionFailure(fmt, p.name, str(exc))
