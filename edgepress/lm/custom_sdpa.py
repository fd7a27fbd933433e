"""Attention for the ``.pte`` decoders with ExecuTorch's own LLM kernels: ``llama::update_cache`` and ``llama::custom_sdpa``.

The route ExecuTorch's Llama export and optimum-executorch take. The static cache is kept
as [batch, position, kv_heads, dim] (the layout those kernels read); ``update_cache`` writes
the new positions in place and ``custom_sdpa`` runs grouped-query attention over the cache
with the causal mask made inside the kernel from the start position. Nothing in attention
is left to portable kernels: no mask building, no K/V copies per query head, no
``index_put`` into the cache, no ``slice_copy`` of it.

The kernels live in ExecuTorch's ``custom_ops`` library, not in XNNPACK: a runtime that runs
such a ``.pte`` has to have them registered (the pip runtime does once
``executorch.extension.llm.custom_ops.custom_ops`` is imported, which ``load_custom_ops``
does; an app links ``custom_ops`` as ExecuTorch's LLM runner does). The artifact's report
says so under ``kernels``.
"""

from __future__ import annotations

from typing import Any

NAME = "edgepress_custom_sdpa"  # the attention implementation's name in transformers' registries


def load_custom_ops() -> None:
    """Register ``llama::custom_sdpa`` and ``llama::update_cache`` with torch (for export) and with the pip ExecuTorch runtime."""
    from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401  (registration is the import's effect)


def custom_sdpa_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float, dropout: float = 0.0,
                          position_ids: Any = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function signature; ``key``/``value`` are the whole cache as ``SequenceFirstLayer`` keeps it.

    Query [b, heads, s, d] goes to the kernel as [b, s, heads, d]; the causal mask starts at
    the first position of this call (batch 1, no padding: what the ``.pte`` runner feeds).
    """
    import torch

    start = position_ids[0][0].item()
    torch._check_is_size(start)
    out = torch.ops.llama.custom_sdpa(query.transpose(1, 2), key, value, start, None, 0.0, True, scaling)
    return out, None


def no_mask(*args: Any, **kwargs: Any) -> None:
    """The mask function for ``NAME``: ``custom_sdpa`` makes the causal mask itself."""
    return None


def use_custom_sdpa(model: Any) -> None:
    """Register ``custom_sdpa_attention`` (with no mask to build) and switch ``model`` to it."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    load_custom_ops()
    AttentionInterface.register(NAME, custom_sdpa_attention)
    AttentionMaskInterface.register(NAME, no_mask)
    model.set_attn_implementation(NAME)


def sequence_first_cache(wrapped: Any) -> None:
    """Give transformers' exportable static-cache module ([b, kv_heads, position, d] layers) position-first layers, in place."""
    from transformers.cache_utils import StaticLayer

    class SequenceFirstLayer(StaticLayer):
        """A static cache layer in [b, position, kv_heads, d], written with ``llama::update_cache`` at ``cumulative_length``."""

        def __init__(self, old: Any) -> None:
            import torch

            super().__init__(old.max_cache_len)
            batch, heads, length, dim = old.keys.shape
            self.keys = torch.zeros((batch, length, heads, dim), dtype=old.keys.dtype)
            self.values = torch.zeros((batch, length, heads, old.values.shape[-1]), dtype=old.values.dtype)
            self.batch_size, self.num_heads, self.k_head_dim, self.v_head_dim = batch, heads, dim, old.values.shape[-1]
            self.device, self.is_initialized = old.keys.device, True

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            import torch

            start = self.cumulative_length.item()  # the exportable module sets it to the call's first position
            torch._check_is_size(start)
            torch._check(start + key_states.shape[-2] <= self.max_cache_len)
            torch.ops.llama.update_cache(key_states.transpose(1, 2), self.keys, start)
            torch.ops.llama.update_cache(value_states.transpose(1, 2), self.values, start)
            self.cumulative_length.add_(key_states.shape[-2])
            return self.keys, self.values

    load_custom_ops()
    layers = wrapped.static_cache.layers
    for i, old in enumerate(layers):
        layers[i] = SequenceFirstLayer(old)
        wrapped.register_buffer(f"key_cache_{i}", layers[i].keys, persistent=False)
        wrapped.register_buffer(f"value_cache_{i}", layers[i].values, persistent=False)
        wrapped.register_buffer(f"cumulative_length_{i}", layers[i].cumulative_length, persistent=False)
