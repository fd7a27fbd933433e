"""Decoders to TFLite: litert-torch's prefill and decode signatures with a KV cache, run by LiteRT's interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from edgepress.lm.hf import from_hf


@pytest.fixture(scope="module")
def lm(tiny_llama):
    return from_hf(tiny_llama)


@pytest.fixture(scope="module")
def fp32(lm, tmp_path_factory):
    from edgepress.lm.api import convert_lm

    return convert_lm(lm, ["tflite"], tmp_path_factory.mktemp("tflite"))[0]


def test_a_tflite_decoder_gives_pytorchs_logits_and_greedy_tokens(lm, fp32):
    from edgepress.lm.sessions import TorchDecoder, greedy
    from edgepress.lm.tflite_session import TfliteDecoder

    assert fp32.path.suffix == ".tflite" and (fp32.path.parent / "tokenizer.json").exists()
    assert fp32.report["max_length"] == 1024 and fp32.lineage == ("convert.tflite",)
    text = "for item in items:\n    print(item)\nwhile True:\n    break\n" * 12
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"][:300]  # more than two prefill chunks of 128
    decoder, reference = TfliteDecoder(fp32.path, threads=1), TorchDecoder(lm.model)
    every = decoder.forward(ids, decoder.start())[0]
    expected = reference.forward(ids, reference.start())[0]
    assert every.shape == expected.shape and np.abs(every - expected).max() < 1e-3 * np.abs(expected).max()
    last = decoder.forward(ids, decoder.start(), last_only=True)[0]  # prefill chunks, then one decode step
    assert last.shape == (1, expected.shape[1]) and np.abs(last[0] - expected[-1]).max() < 1e-3 * np.abs(expected).max()
    assert greedy(decoder, ids[:40], 20).tokens == greedy(reference, ids[:40], 20).tokens
    with pytest.raises(Exception, match="KV cache holds 1024 positions; 1100 asked for"):
        decoder.forward(list(range(1100)), decoder.start())


def test_int4_and_int8_tflite_are_smaller_list_float_weights_and_measure_against_the_reference(lm, fp32, tmp_path):
    from edgepress.lm.api import quantize_lm
    from edgepress.lm.bench import bench_lm, load_lm

    int4, dynamic = (quantize_lm(lm, mode, group_size=32, formats=["tflite"], out_dir=tmp_path)[0] for mode in ("int4", "int8_dynamic"))
    gptq = quantize_lm(lm, "int4", group_size=32, method="gptq", formats=["tflite"], out_dir=tmp_path / "gptq")[0]
    facts = int4.report["quantization"]
    assert int4.path.name == "tiny-llama0_int4_tflite.tflite" and facts["mode"] == "int4" and facts["group_size"] == 32
    assert facts["quantized_weight_fraction"] > 0.95 and isinstance(facts["float_layers"], list)
    assert len(facts["eight_bit_layers"]) == 8 and facts["narrower_group_layers"] == []  # k, v, o and down in each of 2 layers
    assert int4.size_bytes < 0.45 * fp32.size_bytes and dynamic.size_bytes < 0.45 * fp32.size_bytes
    assert int4.report["debug_names_stripped_bytes"] > 0  # after quantization: the recipe's head rule matched the names
    calibrated = gptq.report["quantization"]
    assert calibrated["method"] == "gptq" and calibrated["gptq_layers"] == 6 and calibrated["calibration"]["windows"] > 0
    assert _weight_types(gptq.path) == _weight_types(int4.path)
    again = load_lm(int4.path.parent)  # the folder, read back: the sidecar keeps the cache length and the recipe
    assert again.report["max_length"] == 1024 and again.quant.mode.value == "int4"
    doc = bench_lm([load_lm(fp32.path), again, gptq, dynamic], reference=lm, prompt_tokens=16, new_tokens=6, eval_tokens=300, window=150, threads=1)
    plain, quantized, rounded, _ = doc["results"]
    assert plain["quality"]["next_token_agreement"] == 1.0 and plain["quality"]["greedy_match_tokens"] == 6
    assert abs(plain["quality"]["perplexity"] - doc["reference"]["perplexity"]) < 1e-3 * doc["reference"]["perplexity"]
    assert 0 < quantized["quality"]["kl_div"] < 5 and quantized["generation"]["decode_tok_s"] > 0
    assert 0 < rounded["quality"]["kl_div"] < quantized["quality"]["kl_div"], (rounded["quality"], quantized["quality"])


def test_int4_tflite_keeps_the_sensitive_projections_at_8_bits_and_fits_blocks_to_widths(lm, fp32, tmp_path):
    from edgepress.lm.api import quantize_lm

    # litert-torch's decode graph computes each layer's q, k, v, o, gate, up, down in that order, then the head
    layer = ["int4", "int8", "int8", "int8", "int4", "int4", "int8"]
    assert _weight_types(quantize_lm(lm, "int4", group_size=32, formats=["tflite"], out_dir=tmp_path)[0].path) == layer * 2 + ["int8"]
    wide = quantize_lm(lm, "int4", group_size=128, formats=["tflite"], out_dir=tmp_path / "g128")[0]  # q, gate and up are 64 wide
    facts = wide.report["quantization"]
    assert {(f["layer"].rsplit(".", 1)[-1], f["group_size"]) for f in facts["narrower_group_layers"]} == {("q_proj", 64), ("gate_proj", 64), ("up_proj", 64)}
    assert len(facts["narrower_group_layers"]) == 6 and _weight_types(wide.path) == layer * 2 + ["int8"]


def _weight_types(path) -> list[str]:
    """The type of each fully connected weight of the decode signature, in operator order."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = next(g for g in model.subgraphs if g.name == b"decode")
    return [types[graph.tensors[op.inputs[1]].type] for op in graph.operators
            if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.FULLY_CONNECTED]


def test_layers_whose_weights_the_graph_does_not_hold_stop_the_quantizer(lm, tmp_path):
    """Precision is placed by weight bytes: a model that is not the one exported would get catch-all precision, so it is refused."""
    import copy

    import torch

    from edgepress.errors import ConversionError
    from edgepress.lm.tflite_export import LayerPlan, _exported, quantize_tflite
    from edgepress.quantization import Mode, QuantSpec

    exported = _exported(lm, tmp_path, 64, 16)  # as litert-torch writes it: the names the recipe matches are still there
    other = copy.deepcopy(lm.model)
    with torch.no_grad():
        other.model.layers[1].mlp.up_proj.weight.mul_(2)
    spec = QuantSpec(Mode.INT4, group_size=32)
    with pytest.raises(ConversionError, match=r"no fully connected operator holding the weights of 1 layers \(model.layers.1.mlp.up_proj, ...\)"):
        quantize_tflite(exported, spec, tmp_path / "int4.tflite", LayerPlan.of(other, spec), other)
    assert not (tmp_path / "int4.tflite").exists()
