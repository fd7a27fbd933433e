"""Attention for the ``.pte`` decoders: grouped-query attention that never copies K and V per query head.

transformers' ``sdpa`` attention exports, for ExecuTorch, as a boolean mask turned into an
additive one in every layer (``eq``, ``logical_not``, ``any``, ``where``) and K/V repeated
once per query head (``repeat_kv``: an ``expand_copy`` of the whole static cache, two per
layer); none of these are XNNPACK operators, so they run on portable kernels. Profiled on
SmolLM2-135M's FP32 ``.pte`` (ExecuTorch 1.5.1, 1024-position cache, ETDump), the portable
operators together took about as long as everything delegated. Here the additive mask is made once
per forward (transformers' ``eager_mask``), and the query heads of one K/V head are stacked
along the sequence axis so that each matmul reads the cache as it is.

Written by hand: ExecuTorch's own answer (``llama::custom_sdpa`` with ``llama::update_cache``)
needs a cache in another layout and a runtime with those kernels loaded; this one is plain
ATen that any ExecuTorch runtime runs.
"""

from __future__ import annotations

from typing import Any

NAME = "edgepress_grouped"  # the attention implementation's name in transformers' registries


def grouped_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float, dropout: float = 0.0, **kwargs: Any) -> tuple[Any, Any]:
    """transformers' attention-function signature: query [b, heads, s, d], key/value [b, kv_heads, length, d].

    Query head ``i`` reads K/V head ``i // group`` (the order ``repeat_kv`` gives), so a
    reshape to [b, kv_heads, group * s, d] puts each group beside its own K/V head. Sliding
    windows are in ``attention_mask`` already; dropout is 0 in eval.
    """
    import torch

    batch, heads, steps, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    group = heads // kv_heads
    scores = torch.matmul(query.reshape(batch, kv_heads, group * steps, dim), key.transpose(2, 3)) * scaling
    scores = scores.reshape(batch, heads, steps, length)
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, :length]
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(probs.reshape(batch, kv_heads, group * steps, length), value).reshape(batch, heads, steps, dim)
    return out.transpose(1, 2).contiguous(), probs


def use_grouped_attention(model: Any) -> None:
    """Register ``grouped_attention`` (with the additive mask it reads) and switch ``model`` to it."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, grouped_attention)
    AttentionMaskInterface.register(NAME, eager_mask)
    model.set_attn_implementation(NAME)
