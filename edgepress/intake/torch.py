"""PyTorch intake: wrap an in-memory ``nn.Module``, build one from a user's factory, read ``.pt2`` and TorchScript files."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.errors import BadInputError, ModelLoadError, first_line
from edgepress.layouts import guess_layout
from edgepress.usercode import import_named


@dataclass(frozen=True)
class TorchModel:
    """An in-memory PyTorch model with the example inputs that define its signature."""

    module: Any  # torch.nn.Module, in eval mode
    example_inputs: tuple[Any, ...]  # torch.Tensor each
    dynamic_dims: Any = None  # list[shapes.DynamicDim] when taken from a .pt2; None: the batch only, if dynamic


def from_torch(module: Any, example_inputs: Any, *, name: str = "model", dynamic_batch: bool = True) -> Artifact:
    """Wrap a trained ``torch.nn.Module`` as an in-memory artifact.

    Args:
        module: the trained model; it is put in eval mode.
        example_inputs: one tensor or a tuple of tensors, batch first.
        name: base name for the files converted from it.
        dynamic_batch: record dimension 0 as a dynamic ``batch`` dimension.

    Example:
        >>> art = edgepress.from_torch(net, torch.randn(1, 3, 32, 32))
        >>> art.input_spec.layout
        'NCHW'
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise BadInputError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    examples = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    names = _forward_names(module, len(examples))
    tensors = tuple(_tensor_spec(n, t, dynamic_batch) for n, t in zip(names, examples))
    spec = InputSpec(tensors, layout=guess_layout(tensors[0].shape, prefer="NCHW"))
    return Artifact(
        format=Format.TORCH,
        path=None,
        sha256=_module_digest(module, examples),
        size_bytes=sum(p.numel() * p.element_size() for p in module.state_dict().values()),
        input_spec=spec,
        report={"name": name},
        model=TorchModel(module.eval(), examples),
    )


def module_of_program(artifact: Artifact) -> Artifact:
    """A loaded ``.pt2`` as an in-memory PyTorch handle, for passes that re-export a module.

    The program's ``module()`` is already in inference form (exported from an eval-mode
    model; such modules refuse ``.eval()``), so it is wrapped as it is.
    """
    if artifact.format is not Format.TORCH_EXPORT:
        return artifact
    from edgepress.converters.common import example_inputs
    from edgepress.converters.shapes import dims_of

    dims = dims_of(artifact)  # the program's own ranges, so a re-export keeps them
    examples = example_inputs(artifact, batch=2 if any(d.axis == 0 for d in dims) else 1)
    module = artifact.model.module()
    return Artifact(
        format=Format.TORCH, path=None, sha256=_module_digest(module, examples),
        size_bytes=sum(p.numel() * p.element_size() for p in module.state_dict().values()),
        input_spec=artifact.input_spec, lineage=artifact.lineage, report={"name": artifact.stem}, model=TorchModel(module, examples, dims),
        quant=artifact.quant,  # a saved quantized handle stays one
    )


def from_factory(factory: str, weights: str | Path | None, input_shape: Sequence[int]) -> Artifact:
    """Build a model by calling the user's ``package.module:function``, then load weights.

    This runs the user's own code, so it is only ever used when asked for explicitly.
    Weights are read with ``torch.load(weights_only=True)``.
    """
    import torch

    module = _call_factory(factory)
    if not isinstance(module, torch.nn.Module):
        raise BadInputError(f"the factory {factory!r} returned a {type(module).__name__}; it must return a torch.nn.Module")
    if weights is not None:
        state = _load_weights(Path(weights))
        try:
            module.load_state_dict(state)
        except (RuntimeError, TypeError, ValueError) as exc:  # missing or unexpected keys, shape mismatches
            raise BadInputError(f"the weights in {weights} do not fit the model {factory!r} builds: {first_line(exc)}") from None
    return from_torch(module, torch.zeros(*input_shape), name=factory.partition(":")[2])


def _call_factory(factory: Any) -> Any:
    """Import and call ``package.module:function``; whatever the user's code raises becomes one clear error."""
    module_name, _, func_name = factory.partition(":") if isinstance(factory, str) else ("", "", "")
    if not module_name or not func_name:
        raise BadInputError(f"a factory must look like package.module:function, got {factory!r}")
    try:
        func = getattr(import_named(module_name), func_name)  # also from the working directory: the user named it
    except (ImportError, AttributeError) as exc:
        raise BadInputError(f"cannot use factory {factory!r}: {exc}") from None
    if not callable(func):
        raise BadInputError(f"cannot use factory {factory!r}: it is a {type(func).__name__}, not a function that builds the model")
    try:
        return func()
    except Exception as exc:  # the user's code may raise anything; it is theirs to fix, not an edgepress crash
        raise BadInputError(
            f"the factory {factory!r} raised {type(exc).__name__}: {first_line(exc)}; it must build the model when called with no arguments"
        ) from None


def load_pt2(path: Path, shape: Sequence[int] | None) -> Artifact:
    import torch
    import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the Q/DQ ops a quantized .pt2 holds

    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises many types for a damaged archive
        raise ModelLoadError(f"{path} is a damaged or incompatible .pt2 archive: {type(exc).__name__}: {first_line(exc)}") from None
    tensors = tuple(_placeholder_spec(node) for node in _user_placeholders(program))
    spec = InputSpec(tensors, layout=guess_layout(tensors[0].shape, prefer="NCHW") if tensors else None)
    if shape is not None and tensors:  # the user fixes the dynamic dimensions (a length for TFLite, .ptl)
        from edgepress.converters.shapes import fix_shape, program_dims

        spec, _ = fix_shape(spec, program_dims(program), tuple(shape))
    return Artifact.from_file(path, Format.TORCH_EXPORT, spec).derive(model=program)


def load_torchscript(path: Path, shape: Sequence[int] | None) -> Artifact:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelLoadError(
            f"{path} is not a TorchScript archive ({first_line(exc)}); a state_dict needs --factory and --weights"
        ) from None
    if shape is None:
        raise ModelLoadError(f"{path}: TorchScript files carry no input shapes; pass --input-shape (e.g. 1x3x224x224)")
    tensors = (TensorSpec("x", ("batch", *tuple(shape)[1:])),)
    spec = InputSpec(tensors, layout=guess_layout(tuple(shape), prefer="NCHW"))
    return Artifact.from_file(path, Format.TORCHSCRIPT, spec).derive(model=module)


def _load_weights(path: Path) -> Any:
    import torch

    if not path.exists():
        raise ModelLoadError(f"weights file {path} does not exist")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a weights file loadable with weights_only=True: {first_line(exc)}") from None
    return state.get("state_dict", state) if isinstance(state, dict) else state


def _user_placeholders(program: Any) -> list[Any]:
    user = set(program.graph_signature.user_inputs)
    return [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user]


def _placeholder_spec(node: Any) -> TensorSpec:
    value = node.meta["val"]
    shape = tuple(int(d) if str(d).lstrip("-").isdigit() else "batch" if i == 0 else str(d) for i, d in enumerate(value.shape))
    return TensorSpec(node.name, shape, str(value.dtype).removeprefix("torch."))


def _tensor_spec(name: str, tensor: Any, dynamic_batch: bool) -> TensorSpec:
    shape = tuple(tensor.shape)
    dims = ("batch", *shape[1:]) if dynamic_batch and shape else shape
    return TensorSpec(name, dims, str(tensor.dtype).removeprefix("torch."))


def _forward_names(module: Any, count: int) -> list[str]:
    params = [p.name for p in inspect.signature(module.forward).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    return params[:count] if len(params) >= count else [f"input_{i}" for i in range(count)]


def _module_digest(module: Any, examples: tuple[Any, ...]) -> str:
    import torch

    digest = hashlib.sha256(type(module).__qualname__.encode())
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        digest.update(bytes(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    digest.update(repr([tuple(t.shape) for t in examples]).encode())
    return digest.hexdigest()
