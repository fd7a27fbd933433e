"""Language models through ONNX: export with a KV cache, weight-only and dynamic quantization, measurement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepress.errors import BadInputError, ModelLoadError
from edgepress.lm.hf import from_hf
from edgepress.quantization import Mode, QuantSpec, WeightMethod


@pytest.fixture(scope="module")
def llama(tiny_llama):
    return from_hf(tiny_llama, "text-generation")


@pytest.fixture(scope="module")
def exported(llama, tmp_path_factory):
    from edgepress.lm.onnx_export import export_onnx

    return export_onnx(llama, tmp_path_factory.mktemp("lm-out"))


def test_the_onnx_decoder_generates_what_pytorch_generates(llama, exported):
    import torch

    from edgepress.lm.sessions import OnnxDecoder, greedy

    prompt = llama.tokenizer("def area(width, height):\n    return", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        expected = llama.model.generate(torch.tensor([prompt]), max_new_tokens=24, min_new_tokens=24, do_sample=False)[0, len(prompt):].tolist()
    assert greedy(OnnxDecoder(exported.path), prompt, 24).tokens == expected
    assert len(set(expected)) > 3  # a model that repeats one token would prove nothing


def test_an_exported_folder_is_one_artifact_with_its_tokenizer(exported):
    import json

    names = {p.name for p in exported.side_files}
    assert {"tokenizer.json", "config.json", "generation_config.json", "genai_config.json", exported.path.name + ".data"} <= names
    assert all(p.parent == exported.path.parent for p in exported.side_files)
    assert [t.name for t in exported.input_spec.tensors[:3]] == ["input_ids", "attention_mask", "past_key_values.0.key"]
    assert exported.input_spec.tensors[2].shape == ("batch_size", 2, "past_sequence_length", 16)  # key/value heads and head size are numbers
    assert json.loads((exported.path.parent / "genai_config.json").read_text())["model"]["decoder"]["filename"] == exported.path.name
    assert not list(exported.path.parent.parent.glob(".staging-*"))
    assert not list(exported.path.parent.glob("edgepress-genai-*"))  # the builder's input folder is gone


def _genai_greedy(folder: Path, prompt: list[int], count: int) -> list[int]:
    from edgepress.lm.genai_session import GenaiDecoder, runs_in_genai
    from edgepress.lm.sessions import greedy

    path = next(folder.glob("*.onnx"))
    assert runs_in_genai(path)
    return greedy(GenaiDecoder(path, 1, len(prompt) + count), prompt, count).tokens


def test_the_folders_run_in_onnxruntime_genai_as_they_are(llama, exported, tmp_path):
    import torch

    from edgepress.lm.onnx_weights import quantize_onnx
    from edgepress.lm.sessions import OnnxDecoder, greedy

    prompt = llama.tokenizer("def area(width, height):\n    return", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        expected = llama.model.generate(torch.tensor([prompt]), max_new_tokens=12, min_new_tokens=12, do_sample=False)[0, len(prompt):].tolist()
    assert _genai_greedy(exported.path.parent, prompt, 12) == expected
    q4 = quantize_onnx(exported, QuantSpec(Mode.INT4, group_size=32), tmp_path, "q4")
    assert _genai_greedy(q4.path.parent, prompt, 12) == greedy(OnnxDecoder(q4.path), prompt, 12).tokens  # the renamed graph is the one it loads


def test_generation_is_timed_in_the_session_where_genai_cannot_load_the_graph(exported, tmp_path):
    import json
    import shutil

    from edgepress.lm.genai_session import GENAI_CONFIG, runs_in_genai
    from edgepress.lm.speed import generation_decoder

    copy = tmp_path / "renamed"
    shutil.copytree(exported.path.parent, copy)
    graph = copy / exported.path.name
    config = json.loads((copy / GENAI_CONFIG).read_text())
    config["model"]["decoder"]["filename"] = "another.onnx"
    (copy / GENAI_CONFIG).write_text(json.dumps(config))
    assert runs_in_genai(exported.path) and not runs_in_genai(graph)
    _, runner = generation_decoder({"path": str(graph), "prompt": [1, 2], "new_tokens": 2})
    assert runner == "onnxruntime session"


def test_the_decoder_runs_on_fused_attention_and_norms(exported):
    ops = exported.report["ops"]
    assert ops["com.microsoft::GroupQueryAttention"] == 2  # one per layer: rotary embedding and cache append inside
    assert ops["com.microsoft::SkipSimplifiedLayerNormalization"] == 4
    assert not {"Concat", "Where", "Expand", "Softmax"} & set(ops)  # the traced attention's small ops are gone
    assert exported.report["converter"].startswith("onnxruntime-genai ")


def test_int4_makes_matmulnbits_with_an_int8_embedding_and_head(exported, tmp_path):
    import onnx

    from edgepress.lm.onnx_weights import quantize_onnx

    art = quantize_onnx(exported, QuantSpec(Mode.INT4, group_size=32), tmp_path, "q4")
    facts = art.report["quantization"]
    model = onnx.load(str(art.path))
    nbits = {n.name: {a.name: a.i for a in n.attribute} for n in model.graph.node if n.op_type == "MatMulNBits"}
    assert len(nbits) == 2 * 5 + 1  # per layer: q, k, v in one, o, gate, up, down; 2 layers; and the LM head
    assert nbits[facts["lm_head"]]["bits"] == 8
    assert {v["bits"] for k, v in nbits.items() if k != facts["lm_head"]} == {4}
    assert {v["block_size"] for v in nbits.values()} == {32}
    assert facts["embedding_bits"] == 8 and facts["float_weights"] == []
    assert any(i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 2 for i in model.graph.initializer)  # the embedding table
    assert (tmp_path / "q4" / "tokenizer.json").exists()
    assert '"filename": "q4.onnx"' in (tmp_path / "q4" / "genai_config.json").read_text()
    assert art.quant == QuantSpec(Mode.INT4, group_size=32)


def test_gptq_calibrates_on_text_and_beats_rounding_to_nearest(llama, exported, tmp_path):
    from edgepress.lm.api import gptq_calibration
    from edgepress.lm.bench import bench_lm
    from edgepress.lm.onnx_weights import quantize_onnx
    from edgepress.lm.text import read_text

    calibration = gptq_calibration(llama, None)
    assert len(calibration.windows) == 16 and {len(w) for w in calibration.windows} == {512}
    opening = llama.tokenizer(read_text()[:20_000], add_special_tokens=False)["input_ids"]
    assert not any(w == opening[i: i + 512] for w in calibration.windows for i in range(0, 4096, 512))  # the end of the text, not what perplexity scores
    rtn = quantize_onnx(exported, QuantSpec(Mode.INT4, group_size=32), tmp_path, "rtn")
    gptq = quantize_onnx(exported, QuantSpec(Mode.INT4, group_size=32, weight_method=WeightMethod.GPTQ), tmp_path, "gptq", calibration)
    facts = gptq.report["quantization"]
    assert facts["method"] == "gptq" and facts["calibration"]["windows"] == 16 and facts["float_weights"] == []
    assert facts["lm_head_bits"] == 8 and facts["embedding_bits"] == 8
    doc = bench_lm([rtn, gptq], reference=llama, prompt_tokens=16, new_tokens=4, eval_tokens=1024, window=256, threads=1)
    kl_rtn, kl_gptq = (r["quality"]["kl_div"] for r in doc["results"])
    assert kl_gptq < kl_rtn, (kl_gptq, kl_rtn)
    with pytest.raises(BadInputError, match="needs calibration text"):
        quantize_onnx(exported, QuantSpec(Mode.INT4, group_size=32, weight_method=WeightMethod.GPTQ), tmp_path, "none")


def test_quantized_artifacts_are_measured_against_the_reference(llama, exported, tmp_path):
    from edgepress.lm.bench import bench_lm, load_lm
    from edgepress.lm.onnx_weights import quantize_onnx

    q8 = quantize_onnx(exported, QuantSpec(Mode.INT8_WEIGHT, group_size=32), tmp_path, "q8")
    hqq = quantize_onnx(exported, QuantSpec(Mode.INT4, group_size=64, weight_method=WeightMethod.HQQ), tmp_path, "hqq")
    doc = bench_lm([exported, load_lm(q8.path.parent), hqq], reference=llama, prompt_tokens=16, new_tokens=8, eval_tokens=600, window=200, threads=1)
    fp32, int8, int4 = doc["results"]
    assert fp32["quality"]["perplexity"] == pytest.approx(doc["reference"]["perplexity"], rel=1e-4)
    assert fp32["quality"]["next_token_agreement"] == 1.0 and fp32["quality"]["greedy_match_tokens"] == 8
    assert fp32["generation"]["runner"].startswith("onnxruntime-genai")  # timed with the shared KV buffer ONNX decoders ship with
    assert fp32["quality"]["scored_tokens"] == 600 - 3  # windows of 200: each predicts 199 tokens
    assert int8["quantization"]["mode"] == "int8_weight"  # recalled from the sidecar of the folder loaded by path
    assert int8["quality"]["kl_div"] < int4["quality"]["kl_div"]
    for row in doc["results"]:
        generation = row["generation"]
        assert generation["decode_ms"]["n"] == len(generation["decode_samples_ms"]) == 3 * 7  # 3 rounds of 7 timed tokens
        assert len(generation["round_decode_tok_s"]) == 3 and generation["decode_tok_s"] == sorted(generation["round_decode_tok_s"])[1]
        assert row["peak_rss_bytes"] > 0
    assert int4["size_bytes"] < int8["size_bytes"] < fp32["size_bytes"]


def test_the_encoder_exports_with_dynamic_length_and_matches_pytorch(tiny_bert, tmp_path):
    from edgepress.lm.bench import bench_lm
    from edgepress.lm.onnx_export import export_onnx
    from edgepress.lm.onnx_weights import quantize_onnx
    from edgepress.lm.sessions import OnnxEncoder, TorchEncoder

    bert = from_hf(tiny_bert, "feature-extraction")
    art = export_onnx(bert, tmp_path)
    for length in (5, 40):
        ids = np.random.default_rng(length).integers(4, 200, size=(3, length))
        mask = np.ones_like(ids)
        mask[0, length // 2:] = 0
        got, want = OnnxEncoder(art.path).hidden(ids, mask), TorchEncoder(bert.model).hidden(ids, mask)
        assert np.abs(got - want).max() < 1e-4
    dyn = quantize_onnx(art, QuantSpec(Mode.INT8_DYNAMIC), tmp_path, "bert_int8")
    doc = bench_lm([art, dyn], reference=bert, threads=1, sentences=20)
    assert doc["results"][0]["quality"]["cosine_min"] > 0.99999
    assert 0.9 < doc["results"][1]["quality"]["cosine_mean"] < 1.0
    latency = doc["results"][1]["latency_ms"]
    assert latency["n"] == len(doc["results"][1]["latency_samples_ms"]) >= 3 * 20 and len(latency["round_p50"]) == 3


def test_bad_models_are_refused_in_one_line(tmp_path, tiny_bert):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelLoadError, match="no weights"):
        from_hf(empty)
    with pytest.raises(ModelLoadError, match="not a folder"):
        from_hf(tmp_path / "missing")
    with pytest.raises(BadInputError, match="does not fit --task text-generation; use --task feature-extraction"):
        from_hf(tiny_bert, "text-generation")
    with pytest.raises(BadInputError, match="unknown task"):
        from_hf(tiny_bert, "summarize")


def test_a_gguf_of_an_unsupported_architecture_is_refused(tmp_path):
    import gguf

    writer = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "mamba")
    writer.add_block_count(1)
    writer.add_context_length(16)
    writer.add_embedding_length(8)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(BadInputError, match="architecture 'mamba' is not supported for text-generation .supported: llama"):
        from_hf(tmp_path, gguf_file="m.gguf")


def test_group_sizes_and_modes_are_checked_before_any_work(llama, tmp_path):
    from edgepress.lm.api import quantize_lm

    out = tmp_path / "out"
    with pytest.raises(BadInputError, match="divides no layer's input width .64, 128."):
        quantize_lm(llama, "int4", group_size=256, out_dir=out)
    with pytest.raises(BadInputError, match="not a group size edgepress takes"):
        quantize_lm(llama, "int4", group_size=48, out_dir=out)
    with pytest.raises(BadInputError, match="gptq makes 4-bit weights"):
        quantize_lm(llama, "int8_weight", method="gptq", out_dir=out)
    with pytest.raises(BadInputError, match="calibration text is for --method gptq; rtn uses no data"):
        quantize_lm(llama, "int4", text="some text", out_dir=out)
    with pytest.raises(BadInputError, match="hqq is ONNX Runtime's .float zero points.; the TFLite path takes --method rtn or gptq"):
        quantize_lm(llama, "int4", method="hqq", formats=["tflite"], out_dir=out)
    with pytest.raises(BadInputError, match="--group-size 16 is not a block size ai-edge-quantizer takes"):
        quantize_lm(llama, "int4", group_size=16, formats=["tflite"], out_dir=out)
    with pytest.raises(BadInputError, match="a Hugging Face language model converts to onnx, executorch or tflite, not keras"):
        quantize_lm(llama, "int4", formats=["keras"], out_dir=out)
    with pytest.raises(BadInputError, match="int8_weight does not make a working .pte"):
        quantize_lm(llama, "int8_weight", formats=["executorch"], out_dir=out)
    with pytest.raises(BadInputError, match="hqq is ONNX Runtime's"):
        quantize_lm(llama, "int4", method="hqq", formats=["executorch"], out_dir=out)
    assert not out.exists()


def test_text_windows_and_bad_text(tmp_path):
    from edgepress.errors import DataError
    from edgepress.lm.text import read_text, windows

    assert windows(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert windows(list(range(9)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]  # a 1-token tail predicts nothing
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(DataError, match="is empty"):
        read_text(tmp_path / "empty.txt")
    assert len(read_text()) > 400_000


def test_artifact_folder_without_a_single_model_is_refused(tmp_path):
    from edgepress.lm.bench import load_lm

    with pytest.raises(BadInputError, match="holds 0 .onnx/.pte/.tflite files"):
        load_lm(tmp_path)
    with pytest.raises(BadInputError, match="is an .onnx, .pte or .tflite file"):
        load_lm(Path(tmp_path / "model.h5"))


@pytest.mark.parametrize("kind", ["qwen2", "mistral"])
def test_every_supported_decoder_architecture_exports_and_generates_as_pytorch(kind, tmp_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from edgepress.lm.onnx_export import export_onnx
    from edgepress.lm.sessions import OnnxDecoder, greedy
    from tests.lm.conftest import _tokenizer

    tokenizer = _tokenizer("bpe")
    config = AutoConfig.for_model(kind, vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=2, max_position_embeddings=512, initializer_range=0.3)
    torch.manual_seed(0)
    folder = tmp_path / kind
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    lm = from_hf(folder, "text-generation")
    prompt = lm.tokenizer("for item in items:\n    ", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        expected = lm.model.generate(torch.tensor([prompt]), max_new_tokens=16, min_new_tokens=16, do_sample=False)[0, len(prompt):].tolist()
    art = export_onnx(lm, tmp_path / "out")
    assert art.report["ops"]["com.microsoft::GroupQueryAttention"] == 2
    assert greedy(OnnxDecoder(art.path), prompt, 16).tokens == expected
    assert len(set(expected)) > 3


def test_without_onnxruntime_genai_the_decoder_export_says_what_to_install(monkeypatch, tmp_path):
    import importlib.util

    from edgepress.errors import ConversionError
    from edgepress.lm.genai_builder import _run_builder

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime_genai" else real(name, *a))
    with pytest.raises(ConversionError, match=r"pip install 'edgepress\[lm\]'"):
        _run_builder(tmp_path, tmp_path / "out", tmp_path / "cache")
    assert not (tmp_path / "out").exists()
