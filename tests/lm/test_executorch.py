"""Decoders to ExecuTorch: a static KV cache inside the .pte, lowered to XNNPACK, run by the ExecuTorch runtime."""

from __future__ import annotations

import pytest

from edgepress.lm.hf import from_hf

pytestmark = pytest.mark.slow


def test_a_pte_decoder_generates_what_pytorch_generates_and_int4_stores_its_embedding_in_int8(tiny_llama, tmp_path):
    from edgepress.lm.api import convert_lm, quantize_lm
    from edgepress.lm.bench import bench_lm, load_lm
    from edgepress.lm.executorch_export import export_pte
    from edgepress.lm.sessions import PteDecoder, TorchDecoder, greedy

    lm = from_hf(tiny_llama)
    fp32 = convert_lm(lm, ["executorch"], tmp_path)[0]
    assert fp32.path.suffix == ".pte" and (fp32.path.parent / "tokenizer.json").exists()
    # Attention on ExecuTorch's LLM kernels: one custom_sdpa and two update_cache calls per layer,
    # and outside XNNPACK no mask building, no K/V copy per query head, no index_put into the cache.
    calls, layers = _kernel_calls(fp32.path), lm.model.config.num_hidden_layers
    assert calls["llama::custom_sdpa"] == layers and calls["llama::update_cache"] == 2 * layers, calls
    assert not {"aten::where", "aten::expand_copy", "aten::index_put", "aten::logical_not", "aten::any", "aten::eq"} & calls.keys(), calls
    assert "llama::custom_sdpa" in fp32.report["kernels"]
    # The portable attention (plain ATen ops): the additive mask made once, not in every layer, and
    # no K/V copy per query head; with transformers' sdpa attention this program had 2 where,
    # logical_not and mul calls and 6 expand_copy calls per layer.
    portable = export_pte(lm, tmp_path / "portable", "tiny_portable", attention="portable")
    calls = _kernel_calls(portable.path)
    assert calls.get("aten::where", 0) <= 1 and not {"aten::logical_not", "aten::any", "aten::eq", "llama::custom_sdpa"} & calls.keys(), calls
    assert calls["aten::expand_copy"] <= 4 * layers + 1, calls
    prompt = lm.tokenizer("for item in items:\n    print(item)", add_special_tokens=False)["input_ids"]
    expected = greedy(TorchDecoder(lm.model), prompt, 20).tokens
    for made in (fp32, portable):
        decoder = PteDecoder(made.path, max_length=made.report["max_length"])
        assert greedy(decoder, prompt, 20).tokens == expected
        assert greedy(decoder, prompt, 20).tokens == expected  # starting again at position 0 starts a new sequence
    int4 = quantize_lm(lm, "int4", group_size=32, formats=["executorch"], out_dir=tmp_path)[0]
    facts = int4.report["quantization"]
    assert facts["quantized_linears"] == 14 and facts["float_layers"] == []
    assert len(facts["eight_bit_layers"]) == 8 and facts["eight_bit_config"] == "8da8w"  # k, v, o and down in each of 2 layers
    assert facts["lm_head"] == "lm_head" and facts["lm_head_bits"] == 8 and facts["lm_head_config"] == "8da8w"
    assert facts["embedding"] == "model.embed_tokens" and facts["embedding_bits"] == 8
    config = lm.model.config
    assert ("int8", [config.vocab_size, config.hidden_size]) in _constants(int4.path)  # the table itself is stored in int8
    assert int4.size_bytes < 0.6 * fp32.size_bytes
    gptq = quantize_lm(lm, "int4", group_size=32, method="gptq", formats=["executorch"], out_dir=tmp_path / "gptq")[0]
    assert gptq.report["quantization"]["method"] == "gptq" and gptq.report["quantization"]["calibration"]["windows"] > 0
    doc = bench_lm([load_lm(fp32.path.parent), int4, gptq], reference=lm, prompt_tokens=16, new_tokens=6, eval_tokens=400, window=200, threads=1)
    plain, quantized, calibrated = doc["results"]
    assert plain["quality"]["next_token_agreement"] == 1.0 and plain["quality"]["greedy_match_tokens"] == 6
    assert 0 < quantized["quality"]["kl_div"] < 5 and quantized["generation"]["decode_tok_s"] > 0
    assert 0 < calibrated["quality"]["kl_div"] < quantized["quality"]["kl_div"], (calibrated["quality"], quantized["quality"])


def test_int4_keeps_the_sensitive_projections_at_8_bits_and_int8_keeps_all(tiny_llama):
    import copy

    from edgepress.lm.executorch_export import quantize_torch
    from edgepress.lm.hf import from_hf
    from edgepress.quantization import Mode, QuantSpec

    lm = from_hf(tiny_llama, "text-generation")
    model = copy.deepcopy(lm.model)
    facts = quantize_torch(model, QuantSpec(Mode.INT4, group_size=32))
    attention, mlp = model.model.layers[0].self_attn, model.model.layers[0].mlp
    for layer in (attention.q_proj, mlp.gate_proj, mlp.up_proj):  # 4 bits, one scale per 32 inputs
        assert layer.weight.scale.shape == (layer.out_features, layer.in_features // 32) and int(layer.weight.qdata.abs().max()) <= 8
    for layer in (attention.k_proj, attention.v_proj, attention.o_proj, mlp.down_proj, model.lm_head):  # 8 bits, one scale per row
        assert layer.weight.scale.numel() == layer.out_features and int(layer.weight.qdata.abs().max()) > 8
    assert "model.layers.1.mlp.down_proj" in facts["eight_bit_layers"] and "model.layers.1.mlp.up_proj" not in facts["eight_bit_layers"]
    assert quantize_torch(copy.deepcopy(lm.model), QuantSpec(Mode.INT8_DYNAMIC))["eight_bit_layers"] == []  # every layer is 8-bit already


def test_a_width_the_group_does_not_divide_gets_the_largest_group_that_does(tiny_llama):
    import copy

    from edgepress.lm.executorch_export import quantize_torch
    from edgepress.lm.mixed_precision import layer_group
    from edgepress.quantization import Mode, QuantSpec, WeightMethod
    from edgepress.lm.onnx_weights import Calibration
    from edgepress.lm.text import calibration_windows

    # SmolLM2: 576-wide layers at group 128 get group 64; 1536-wide keep 128; no power of two from 16 up divides 40
    assert (layer_group(576, 128), layer_group(1536, 128), layer_group(576, 32), layer_group(40, 32), layer_group(576, 0)) == (64, 128, 32, None, 0)
    lm = from_hf(tiny_llama, "text-generation")
    windows = calibration_windows(lm.tokenizer, None, count=2, window=64)
    for method in (WeightMethod.RTN, WeightMethod.GPTQ):  # GPTQ rounds on the group the layer gets
        model = copy.deepcopy(lm.model)
        facts = quantize_torch(model, QuantSpec(Mode.INT4, group_size=128, weight_method=method), Calibration(windows, "test"))
        up = model.model.layers[0].mlp.up_proj  # 64 wide
        assert up.weight.scale.shape == (up.out_features, 1) and int(up.weight.qdata.abs().max()) <= 8
        assert facts["float_layers"] == [] and {f["group_size"] for f in facts["narrower_group_layers"]} == {64}


def test_the_static_cache_bounds_windows_before_any_work(tiny_llama, tmp_path):
    from edgepress.errors import BadInputError
    from edgepress.lm.bench import _check_lengths
    from edgepress.artifact import Artifact, Format, InputSpec

    art = Artifact(Format.EXECUTORCH, tmp_path / "m.pte", "0", 0, InputSpec(()), report={"max_length": 64})
    with pytest.raises(BadInputError, match="holds 64 positions in its cache"):
        _check_lengths([art], 128, 10)
    _check_lengths([art], 32, 10)


def _constants(path) -> list[tuple[str, list[int]]]:
    """(dtype, shape) of the constant tensors a .pte stores outside its delegate blobs."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(path.read_bytes())
    program = getattr(program, "program", program)  # newer releases wrap it with its named data
    names = {1: "int8", 6: "float32"}  # ExecuTorch's ScalarType codes
    tensors = [v.val for v in program.execution_plan[0].values if type(v.val).__name__ == "Tensor" and v.val.data_buffer_idx]
    return [(names.get(int(t.scalar_type), str(t.scalar_type)), list(t.sizes)) for t in tensors]


def _kernel_calls(path) -> dict[str, int]:
    """How many times a .pte's program calls each operator outside its delegates."""
    from collections import Counter

    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(path.read_bytes())
    plan = getattr(program, "program", program).execution_plan[0]
    names = [op.name for op in plan.operators]
    return Counter(names[i.instr_args.op_index] for chain in plan.chains for i in chain.instructions if type(i.instr_args).__name__ == "KernelCall")


def test_an_unknown_attention_is_refused(tiny_llama, tmp_path):
    from edgepress.errors import UnknownNameError
    from edgepress.lm.executorch_export import export_pte

    with pytest.raises(UnknownNameError, match="unknown attention 'flash'"):
        export_pte(from_hf(tiny_llama), tmp_path, "t", attention="flash")
    assert not list(tmp_path.iterdir())
