"""The .pte decoders' attention: the same outputs as transformers' own, without repeating K/V per query head."""

from __future__ import annotations

import copy

import pytest


@pytest.mark.parametrize("kv_heads", [1, 2, 4])  # multi-query, grouped-query, multi-head
def test_grouped_attention_gives_what_sdpa_gives(kv_heads):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from edgepress.lm.grouped_attention import NAME, use_grouped_attention

    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=kv_heads, max_position_embeddings=128, initializer_range=0.3)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    grouped = copy.deepcopy(model)
    use_grouped_attention(grouped)
    assert grouped.config._attn_implementation == NAME and model.config._attn_implementation != NAME
    ids = torch.randint(0, 97, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # a left-padded second row: the mask path matters
    with torch.no_grad():
        want, got = model(ids, attention_mask=mask).logits, grouped(ids, attention_mask=mask).logits
    torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1, 3:], want[1, 3:], atol=1e-5, rtol=1e-5)  # the padded positions' own rows are undefined in both
