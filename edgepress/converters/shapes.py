"""Dynamic dimensions of a PyTorch model: which exist, their ranges, and which formats keep them.

A ``.pt2`` exported with ``torch.export.Dim`` carries each dynamic dimension's range
(``Dim("T", min=4, max=256)``, or unbounded ``Dim("T")``). ONNX keeps every dynamic
dimension; ExecuTorch keeps one with an upper bound (its memory is planned for the
maximum); litert-torch and the TorchScript tracer fix shapes at conversion time. A format
that cannot keep a dimension is refused with the reason and a way forward, never
converted silently at size 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgepress.artifact import Artifact, Format, InputSpec

EXAMPLE_SIZE = 8  # the example length a dynamic dimension is traced at (0 and 1 get specialised)


@dataclass(frozen=True)
class DynamicDim:
    """One dynamic dimension of one input: ``max`` is None when unbounded."""

    input_index: int
    input_name: str
    axis: int
    symbol: str
    min: int
    max: int | None

    @property
    def example(self) -> int:
        """A size inside the range to trace at: never 0 or 1, which torch.export specialises."""
        upper = self.max if self.max is not None else max(EXAMPLE_SIZE, self.min)
        return max(min(max(EXAMPLE_SIZE, self.min), upper), 2 if upper >= 2 else self.min)


def program_dims(program: Any) -> list[DynamicDim]:
    """Every dynamic dimension of an ExportedProgram's user inputs, with its range."""
    import torch

    user = list(program.graph_signature.user_inputs)
    dims = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in user:
            continue
        for axis, size in enumerate(node.meta["val"].shape):
            if isinstance(size, torch.SymInt):
                dims.append(_dim(program, user.index(node.name), node.name, axis, size.node.expr))
    return dims


def _dim(program: Any, index: int, name: str, axis: int, expr: Any) -> DynamicDim:
    bounds = program.range_constraints.get(expr)
    lower = int(bounds.lower) if bounds is not None else 0
    # torch marks "no upper bound" with its own infinity (int_oo), not a finite Integer
    upper = int(bounds.upper) if bounds is not None and bool(getattr(bounds.upper, "is_Integer", False)) else None
    return DynamicDim(index, name, axis, str(expr), lower, upper)


def saved_program(source: Artifact) -> Any:
    """The ExportedProgram of a ``.pt2`` handle: the one loaded with it, else read from its file."""
    import warnings

    import torch
    import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the Q/DQ ops a quantized .pt2 holds

    if source.model is not None:
        return source.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.load(str(source.path))


def dims_of(source: Artifact) -> list[DynamicDim]:
    """Dynamic dimensions of a PyTorch source: a .pt2's own, or a module handle's recorded ones."""
    if source.format is Format.TORCH_EXPORT:
        dims = program_dims(saved_program(source))
    elif source.format is Format.TORCH and getattr(source.model, "dynamic_dims", None) is not None:
        dims = list(source.model.dynamic_dims)
    elif source.format is Format.TORCH:
        tensors = source.input_spec.tensors
        dims = [DynamicDim(i, t.name, 0, "batch", 1, 4096) for i, t in enumerate(tensors) if t.shape and isinstance(t.shape[0], str)]
    else:
        return []
    # a dimension the user fixed (--input-shape) is static in the spec, whatever the program allows
    return [d for d in dims if isinstance(source.input_spec.tensors[d.input_index].shape[d.axis], str)]


def export_dynamic_shapes(dims: list[DynamicDim], count: int, keep_batch: bool = True) -> tuple[dict[int, Any], ...] | None:
    """``torch.export`` dynamic_shapes for ``count`` inputs: one ``Dim`` per symbol, shared across inputs."""
    import torch

    kept = [d for d in dims if keep_batch or d.axis != 0]
    if not kept:
        return None
    made: dict[str, Any] = {}
    shapes: list[dict[int, Any]] = [{} for _ in range(count)]
    for d in kept:
        if d.symbol not in made:
            made[d.symbol] = torch.export.Dim(_identifier(d.symbol), min=d.min, max=d.max) if d.max is not None else torch.export.Dim(_identifier(d.symbol), min=d.min)
        shapes[d.input_index][d.axis] = made[d.symbol]
    return tuple(shapes)


def _identifier(symbol: str) -> str:
    name = "".join(c if c.isalnum() else "_" for c in symbol)
    return name if name[:1].isalpha() else f"d_{name}"


def sequence_dims(dims: list[DynamicDim]) -> list[DynamicDim]:
    """The dynamic dimensions other than the batch (axis 0)."""
    return [d for d in dims if d.axis != 0]


def refusal(source: Artifact, fmt: Format) -> str | None:
    """Why ``fmt`` cannot keep ``source``'s dynamic dimensions (None when it can)."""
    if source.format not in (Format.TORCH, Format.TORCH_EXPORT) or fmt in (Format.ONNX, Format.TORCH_EXPORT):
        return None
    dims = sequence_dims(dims_of(source))
    if not dims:
        return None
    if fmt is Format.EXECUTORCH:
        unbounded = [d for d in dims if d.max is None]
        if not unbounded:
            return None
        return f"{fmt.value} plans memory for each dimension's maximum, and {_names(unbounded)} has no upper bound; re-export with torch.export.Dim(..., max=N) or {_fix_hint(source, unbounded)}"
    why = "litert-torch converts at fixed shapes" if fmt is Format.TFLITE else "the TorchScript tracer records fixed sizes"
    return f"{fmt.value} cannot keep the dynamic {_names(dims)} ({why}); {_fix_hint(source, dims)}, or convert to onnx or executorch, which keep it"


def _names(dims: list[DynamicDim]) -> str:
    return ", ".join(f"dimension {d.axis} of input {d.input_name!r}" for d in dims)


def _fix_hint(source: Artifact, dims: list[DynamicDim]) -> str:
    first = source.input_spec.tensors[dims[0].input_index]
    example = "x".join(str(s if isinstance(s, int) else 1 if i == 0 else 128) for i, s in enumerate(first.shape))
    return f"pass --input-shape {example} (edgepress.load(..., input_shape=...)) to convert at a length you choose"


def fix_shape(spec: InputSpec, dims: list[DynamicDim], shape: tuple[int, ...]) -> tuple[InputSpec, list[DynamicDim]]:
    """The spec with the first input's dynamic dimensions fixed to ``shape``; the dims left dynamic.

    Raises BadInputError when ``shape`` contradicts a static dimension or a dimension's range.
    """
    from dataclasses import replace

    from edgepress.errors import BadInputError

    first = spec.tensors[0]
    if len(shape) != len(first.shape):
        raise BadInputError(f"--input-shape {_text(shape)} has {len(shape)} dimensions; input {first.name!r} has {len(first.shape)} ({_text(first.shape)})")
    for axis, (want, have) in enumerate(zip(shape, first.shape)):
        if isinstance(have, int) and want != have:
            raise BadInputError(f"--input-shape {_text(shape)} sets dimension {axis} to {want}; the model fixes it at {have} ({_text(first.shape)})")
    fixed = {d.symbol: shape[d.axis] for d in dims if d.input_index == 0}
    for d in dims:
        size = fixed.get(d.symbol)
        if size is not None and not (d.min <= size and (d.max is None or size <= d.max)):
            raise BadInputError(f"--input-shape sets dimension {d.axis} of {d.input_name!r} to {size}; the model allows {d.min}..{d.max if d.max is not None else 'any'}")
    tensors = tuple(replace(t, shape=tuple(fixed.get(_symbol(dims, i, a), s) if isinstance(s, str) else s for a, s in enumerate(t.shape))) for i, t in enumerate(spec.tensors))
    return replace(spec, tensors=tensors), [d for d in dims if d.symbol not in fixed]


def _symbol(dims: list[DynamicDim], index: int, axis: int) -> str | None:
    return next((d.symbol for d in dims if d.input_index == index and d.axis == axis), None)


def _text(shape: tuple[Any, ...]) -> str:
    return "x".join(str(s) for s in shape)
