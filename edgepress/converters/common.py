"""What every converter shares: the cached, staged, atomically published output."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dataclasses import replace

from edgepress.artifact import Artifact, Format, InputSpec
from edgepress.converters.input_check import check_inputs
from edgepress.passes import Pass, cache_key, describe
from edgepress.storage import cached, publish, staging_dir

# A writer gets the source artifact and the staged output path; it writes the file (and
# any side files) and returns (side_files, conversion report).
Writer = Callable[[Artifact, Path], tuple[tuple[Path, ...], dict[str, Any]]]


def convert_with(
    p: Pass, source: Artifact, out_dir: Path, fmt: Format, write: Writer, spec_of: Callable[[Path], Any], suffix: str | None = None
) -> Artifact:
    """Reuse a cached output with the same key, else stage, write, check and publish (as ``suffix``, default the format's).

    The output keeps the source's ``quant``: a saved quantized handle (``.pt2``, ``.keras``)
    converts as the handle did, and a converted file records the recipe that made it.
    """
    key = cache_key(p, source)
    filename = source.stem + (suffix or fmt.suffix)
    hit = cached(out_dir, filename, key)
    if hit is not None:
        return hit
    with staging_dir(out_dir) as tmp:
        staged_path = tmp / filename
        side_files, report = write(source, staged_path)
        staged = Artifact.from_file(
            staged_path, fmt, spec_of(staged_path), (*source.lineage, describe(p)), side_files, report, source.quant
        )
        check_inputs(source.input_spec, staged_path, fmt, staged.input_spec)
        return publish(staged, out_dir, key)


def torch_program(source: Artifact) -> Any:
    """A torch.export ExportedProgram for a TORCH or TORCH_EXPORT artifact."""
    with quiet_exporter():
        return _torch_program(source)


def _torch_program(source: Artifact) -> Any:
    import torch

    from edgepress.converters.shapes import dims_of, export_dynamic_shapes, saved_program

    if source.format is Format.TORCH_EXPORT:
        return saved_program(source)
    dims = dims_of(source)
    examples = _sized(source.model.example_inputs, dims)
    return torch.export.export(source.model.module, examples, dynamic_shapes=export_dynamic_shapes(dims, len(examples)))


def _sized(examples: tuple[Any, ...], dims: list[Any]) -> tuple[Any, ...]:
    """Examples resized along each dynamic dimension to a size torch.export keeps symbolic (not 0 or 1)."""
    import torch

    resized = list(examples)
    for d in dims:
        t = resized[d.input_index]
        if t.shape[d.axis] in (0, 1) or not (d.min <= t.shape[d.axis] <= (d.max or t.shape[d.axis])):
            index = torch.arange(d.example) % max(t.shape[d.axis], 1)
            resized[d.input_index] = t.index_select(d.axis, index).contiguous()
    return tuple(resized)


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Silence exporters' progress prints, deprecation warnings and optional-op notices."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed" notices
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        registration.setLevel(level)


def example_inputs(source: Artifact, batch: int = 1) -> tuple[Any, ...]:
    """Example tensors, a dynamic batch set to ``batch``: the model's own, else zeros from its spec.

    A static dimension keeps its size (a program exported at batch 4 takes only 4); other
    dynamic dimensions get a size inside their range.
    """
    import torch

    from edgepress.converters.shapes import dims_of

    sizes = {(d.input_index, d.axis): d.example for d in dims_of(source) if d.axis != 0}
    tensors = source.input_spec.tensors
    if source.format is Format.TORCH:
        own = source.model.example_inputs
        return tuple(t[:1].expand(batch, *t.shape[1:]).contiguous() if _dynamic_batch(spec) else t for t, spec in zip(own, tensors))
    shapes = [[sizes.get((i, a), batch if a == 0 else 1) if isinstance(s, str) else s for a, s in enumerate(t.shape)] for i, t in enumerate(tensors)]
    return tuple(torch.zeros(shape, dtype=getattr(torch, t.dtype, torch.float32)) for shape, t in zip(shapes, tensors))


def _dynamic_batch(spec: Any) -> bool:
    return bool(spec.shape) and isinstance(spec.shape[0], str)


def static_program(source: Artifact, batch: int = 1) -> Any:
    """A torch.export program for edge runtimes: the batch fixed, other dynamic dimensions kept
    with their ranges (``shapes.refusal`` has turned away the formats that cannot hold them)."""
    import torch

    from edgepress.converters.shapes import dims_of, export_dynamic_shapes

    module = source.model.module if source.format is Format.TORCH else torch_program(source).module()
    examples = example_inputs(source, batch)
    dynamic = export_dynamic_shapes(dims_of(source), len(examples), keep_batch=False)
    with quiet_exporter():
        return torch.export.export(module, examples, dynamic_shapes=dynamic)


def static_spec(source: Artifact, batch: int = 1) -> InputSpec:
    """The source's input spec with a dynamic batch fixed as in ``static_program``."""
    tensors = tuple(replace(t, shape=(batch, *t.shape[1:])) if _dynamic_batch(t) else t for t in source.input_spec.tensors)
    return replace(source.input_spec, tensors=tensors)


def refuse_fixed_shapes(source: Artifact, fmt: Format) -> None:
    """Raise BadInputError when ``fmt`` cannot keep ``source``'s dynamic dimensions."""
    from edgepress.converters.shapes import refusal
    from edgepress.errors import BadInputError

    reason = refusal(source, fmt)
    if reason:
        raise BadInputError(reason)
