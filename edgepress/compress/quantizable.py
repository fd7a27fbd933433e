"""Whether a model has anything INT8 quantization would change: Conv / Linear (Dense) layers or ops.

Checked before any work, so a model with nothing to quantize is refused in one line
instead of coming back unchanged under a quantized name.
"""

from __future__ import annotations

from typing import Any

from edgepress.errors import BadInputError


def check_keras_quantizable(model: Any) -> None:
    kinds = ("Conv", "Dense", "DepthwiseConv", "SeparableConv", "EinsumDense", "LSTM", "GRU")
    layers = [type(layer).__name__ for layer in all_layers(model)]
    if not any(name.startswith(kinds) for name in layers):
        raise BadInputError(f"the model has no quantizable layers (found: {', '.join(sorted(set(layers))) or 'none'}; expected Conv or Dense)")


def all_layers(model: Any) -> list[Any]:
    nested = [all_layers(layer) for layer in getattr(model, "layers", [])]
    return [*getattr(model, "layers", []), *(layer for group in nested for layer in group)]


def check_torch_quantizable(module: Any) -> None:
    import torch

    layers = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    graph = getattr(module, "graph", None)  # an exported program's module: functional ops, no layer objects
    ops = {str(n.target).split(".")[1] for n in graph.nodes if n.op == "call_function" and str(n.target).startswith("aten.")} if graph else set()
    if not any(isinstance(m, layers) for m in module.modules()) and not ops & {"conv1d", "conv2d", "conv3d", "convolution", "linear", "addmm", "mm"}:
        raise BadInputError("the model has no quantizable layers (no Conv or Linear); INT8 quantization would change nothing")
