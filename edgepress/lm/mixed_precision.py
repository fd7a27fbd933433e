"""Which linear layers of an INT4 decoder stay at 8 bits, and which group size a layer's width takes (``.pte`` and ``.tflite``).

XNNPACK's 4-bit kernels, which both ExecuTorch's ``8da4w`` and LiteRT's blockwise 4-bit
weights run on, also round every activation to 8 bits per token; the two roundings together
cost more than the 4-bit weights alone. So an INT4 file keeps the attention's key, value and
output projections and the MLP's down projection at 8 bits (a scale per row), as llama.cpp's
Q4_K_M keeps such layers at more bits. ONNX Runtime's ``MatMulNBits`` rounds activations in
blocks instead, and its INT4 keeps every body layer at 4 bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Layers (name suffixes, as transformers names them in Llama, Mistral and Qwen2) an INT4 file keeps at 8 bits.
# SmolLM2, GPTQ at group 32, eager with torchao's quantizers, 4096 tokens (float 14.705):
# all 4-bit 15.858 (+7.85%); down_proj and v_proj 8-bit 15.495 (+5.37%); with k_proj 15.416 (+4.84%);
# with o_proj too 15.387 (+4.64%), for 21.6 MB more than all 4-bit (the FP32 .pte is 655 MB).
EIGHT_BIT_LAYERS = ("self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.down_proj")


def head_name(model: Any) -> str | None:
    """The module name of ``model``'s LM head (None: it has none)."""
    output = model.get_output_embeddings()
    return next((name for name, m in model.named_modules() if output is not None and m is output), None)


def body_linears(model: Any) -> dict[str, Any]:
    """Every ``torch.nn.Linear`` of ``model`` but its LM head, by module name."""
    import torch

    head = head_name(model)
    return {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and name != head}


def eight_bit_layers(names: list[str] | dict[str, Any]) -> list[str]:
    """The names among ``names`` an INT4 file keeps at 8 bits, sorted."""
    return sorted(name for name in names if name.endswith(EIGHT_BIT_LAYERS))


def layer_group(width: int, group: int, smallest: int = 16) -> int | None:
    """The group size a layer of input ``width`` gets: ``group``, else the largest power-of-two group from ``smallest`` below it that divides the width (None: none does).

    XNNPACK's 4-bit kernels need whole groups (torchao refuses the rest), and SmolLM2's 576-wide
    layers at group 128 would otherwise stay float: 90 of them, 357 MB instead of about 140.
    Smaller groups only add scales, and round closer.
    """
    if group == 0 or width % group == 0:
        return group
    return next((g for g in (group >> k for k in range(1, 8)) if g >= smallest and width % g == 0), None)


@dataclass(frozen=True)
class FittedGroups:
    """The group each layer gets (``layer_group``), the layers none fits, and the report's entries for those given a smaller group."""

    fitted: dict[str, int] = field(default_factory=dict)
    unfitted: list[str] = field(default_factory=list)
    narrower: list[dict[str, Any]] = field(default_factory=list)


def fit_groups(linears: dict[str, Any], group: int, smallest: int = 16) -> FittedGroups:
    """``layer_group`` for every layer of ``linears`` (name -> ``torch.nn.Linear``)."""
    out = FittedGroups()
    for name, layer in linears.items():
        got = layer_group(layer.in_features, group, smallest)
        if got is None:
            out.unfitted.append(name)
            continue
        out.fitted[name] = got
        if got != group:
            out.narrower.append({"layer": name, "group_size": got, "reason": f"input width {layer.in_features} is not a multiple of {group}"})
    return out
