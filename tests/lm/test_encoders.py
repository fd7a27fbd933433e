"""Encoders to TFLite (fixed sequence) and ExecuTorch (dynamic sequence): the same embeddings as PyTorch, INT8 close to them."""

from __future__ import annotations

import numpy as np
import pytest

from edgepress.lm.hf import from_hf


@pytest.fixture(scope="module")
def bert(tiny_bert):
    return from_hf(tiny_bert, "feature-extraction")


@pytest.fixture(scope="module")
def exported(bert, tmp_path_factory):
    from edgepress.lm.api import convert_lm

    return convert_lm(bert, ["tflite", "executorch"], tmp_path_factory.mktemp("encoders"))


def test_tflite_and_pte_encoders_embed_as_pytorch_does_and_int8_stays_close(bert, exported, tmp_path):
    from edgepress.lm.api import quantize_lm
    from edgepress.lm.bench import bench_lm, load_lm
    from edgepress.lm.sessions import TorchEncoder, encoder_for

    tflite, pte = exported
    assert tflite.path.name == "tiny-bert0_tflite.tflite" and pte.path.name == "tiny-bert0_pte.pte"
    assert tflite.report["max_length"] == 128 and pte.report["max_length"] == 256
    batch = bert.tokenizer(["def f(x): return x", "import os, sys and the rest of the standard library"], padding=True, return_tensors="np")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    expected = TorchEncoder(bert.model).hidden(ids, mask)
    for artifact in (tflite, pte):
        got = encoder_for(artifact.path, threads=1).hidden(ids, mask)
        valid = mask.astype(bool)
        assert got.shape == expected.shape and np.abs(got[valid] - expected[valid]).max() < 1e-4, artifact.name
    made = quantize_lm(bert, "int8_dynamic", formats=["tflite", "executorch"], out_dir=tmp_path)
    assert [a.path.suffix for a in made] == [".tflite", ".pte"] and all(a.quant.mode.value == "int8_dynamic" for a in made)
    facts = made[1].report["quantization"]
    assert facts["embedding"] == "embeddings.word_embeddings" and facts["embedding_bits"] == 8
    assert {f["layer"] for f in facts["float_layers"]} == {"embeddings.position_embeddings", "embeddings.token_type_embeddings"}
    doc = bench_lm([load_lm(tflite.path.parent), load_lm(pte.path), *made], reference=bert, threads=1, sentences=20)
    plain = [r["quality"]["cosine_min"] for r in doc["results"][:2]]
    quantized = [r["quality"]["cosine_mean"] for r in doc["results"][2:]]
    assert min(plain) > 0.99999 and all(0.9 < c < 1.0 for c in quantized), (plain, quantized)
    assert all(r["latency_ms"]["p50"] > 0 for r in doc["results"])


def test_a_tflite_encoder_refuses_a_longer_input(exported):
    from edgepress.errors import BadInputError
    from edgepress.lm.tflite_session import TfliteEncoder

    with pytest.raises(BadInputError, match="takes 128 tokens; 130 given"):
        TfliteEncoder(exported[0].path).hidden(np.ones((1, 130), np.int64), np.ones((1, 130), np.int64))
