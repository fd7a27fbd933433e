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
    """Reuse a cached output with the same key, else stage, write, check and publish (as ``suffix``, default the format's)."""
    key = cache_key(p, source)
    filename = source.stem + (suffix or fmt.suffix)
    hit = cached(out_dir, filename, key)
    if hit is not None:
        return hit
    with staging_dir(out_dir) as tmp:
        staged_path = tmp / filename
        side_files, report = write(source, staged_path)
        staged = Artifact.from_file(
            staged_path, fmt, spec_of(staged_path), (*source.lineage, describe(p)), side_files, report
        )
        check_inputs(source.input_spec, staged_path, fmt, staged.input_spec)
        return publish(staged, out_dir, key)


def torch_program(source: Artifact) -> Any:
    """A torch.export ExportedProgram for a TORCH or TORCH_EXPORT artifact."""
    with quiet_exporter():
        return _torch_program(source)


def _torch_program(source: Artifact) -> Any:
    import torch

    if source.format is Format.TORCH_EXPORT:
        import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the Q/DQ ops a quantized .pt2 holds

        return source.model if source.model is not None else torch.export.load(str(source.path))
    model = source.model
    dynamic = batch_dynamic_shapes(source)
    examples = model.example_inputs
    if dynamic is not None:
        # torch.export specialises a size-1 dimension to a constant; trace with batch 2.
        examples = tuple(t.expand(2, *t.shape[1:]).contiguous() if t.shape[0] == 1 else t for t in examples)
    return torch.export.export(model.module, examples, dynamic_shapes=dynamic)


def batch_dynamic_shapes(source: Artifact) -> tuple[dict[int, Any], ...] | None:
    """torch.export dynamic_shapes marking dim 0 dynamic where the spec says so."""
    import torch

    if not any(t.is_dynamic for t in source.input_spec.tensors):
        return None
    batch = torch.export.Dim("batch", min=1, max=4096)
    return tuple({0: batch} if isinstance(t.shape[0], str) else {} for t in source.input_spec.tensors)


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
    """Example tensors with a fixed batch: the model's own (resized), else zeros from its spec."""
    import torch

    if source.format is Format.TORCH:
        return tuple(t[:1].expand(batch, *t.shape[1:]).contiguous() for t in source.model.example_inputs)
    return tuple(torch.zeros(t.concrete_shape(batch), dtype=getattr(torch, t.dtype, torch.float32)) for t in source.input_spec.tensors)


def static_program(source: Artifact, batch: int = 1) -> Any:
    """A torch.export program with every shape fixed (edge runtimes plan memory statically)."""
    import torch

    module = source.model.module if source.format is Format.TORCH else torch_program(source).module()
    with quiet_exporter():
        return torch.export.export(module, example_inputs(source, batch))


def static_spec(source: Artifact, batch: int = 1) -> InputSpec:
    """The source's input spec with dynamic dimensions fixed as in ``static_program``."""
    tensors = tuple(replace(t, shape=t.concrete_shape(batch)) for t in source.input_spec.tensors)
    return replace(source.input_spec, tensors=tensors)
