"""``edgepress convert|quantize|bench`` with ``--hf`` and ``--task``: real subprocesses, real files."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_convert_quantize_and_bench_a_decoder_folder(cli, tiny_llama, tmp_path):
    out = tmp_path / "out"
    made = cli("convert", "--hf", tiny_llama, "--task", "text-generation", "--to", "onnx", "--out", out, "--quiet")
    assert made.returncode == 0, made.stderr
    fp32 = out / tiny_llama.name / f"{tiny_llama.name}.onnx"
    assert made.stdout.split() == [str(fp32)]
    made = cli("quantize", "--hf", tiny_llama, "--mode", "int4", "--group-size", "32", "--method", "hqq", "--out", out, "--quiet")
    assert made.returncode == 0, made.stderr
    int4 = out / f"{tiny_llama.name}_int4"
    assert (int4 / f"{tiny_llama.name}_int4.onnx").exists() and (int4 / "tokenizer.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".staging") or p.name.startswith(".edgepress-fp32")]
    results = tmp_path / "lm.json"
    ran = cli("bench", fp32, int4, "--task", "text-generation", "--ref", tiny_llama, "--threads", "1", "--eval-tokens", "300",
              "--window", "150", "--prompt-tokens", "16", "--new-tokens", "6", "--json", results)
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(results.read_text())
    assert doc["schema"] == "edgepress.lm-results" and doc["task"] == "text-generation"
    assert [r["quantization"] and r["quantization"]["method"] for r in doc["results"]] == [None, "hqq"]
    assert doc["results"][0]["quality"]["greedy_match_tokens"] == 6
    assert "decode tok/s" in ran.stdout and f"{tiny_llama.name}_int4.onnx" in ran.stdout


@pytest.mark.parametrize("args, message", [
    (["quantize", "--hf", "{llama}", "--mode", "int4", "--group-size", "7"], "--group-size 7 is not a group size edgepress takes"),
    (["quantize", "--hf", "{llama}", "--mode", "int4", "--group-size", "256"], "--group-size 256 divides no layer's input width"),
    (["quantize", "--hf", "{llama}", "--mode", "int8"], "unknown language-model mode 'int8'"),
    (["convert", "--hf", "{bert}", "--task", "text-generation"], "a bert model does not fit --task text-generation"),
    (["convert", "--hf", "{empty}"], "has no weights"),
    (["convert", "--hf", "{llama}", "--to", "onnx,keras"], "converts to onnx, executorch or tflite, not keras"),
    (["bench", "{art}", "--task", "text-generation", "--text", "{blank}"], "is empty"),
    (["quantize", "--hf", "{llama}", "--mode", "int4", "--data", "{blank}"], "--data with --hf is calibration text for --method gptq"),
    (["quantize", "--hf", "{llama}", "--mode", "int4", "--method", "gptq", "--data", "{blank}"], "--data file"),
    (["quantize", "--hf", "{llama}", "--mode", "int4", "--method", "hqq", "--to", "executorch"], "hqq is ONNX Runtime's; the ExecuTorch path takes"),
    (["bench", "{art}", "--task", "text-generation", "--target", "gpu"], "language models are measured on host-cpu or arm64-emu[:CPU] (got --target gpu)"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(cli, tiny_llama, tiny_bert, tmp_path, args, message):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "llama"}')
    blank = tmp_path / "blank.txt"
    blank.write_text("\n")
    art = tmp_path / "art"
    art.mkdir()
    names = {"llama": tiny_llama, "bert": tiny_bert, "empty": empty, "blank": blank, "art": art}
    out = tmp_path / "out"
    ran = cli(*[a.format(**names) for a in args], "--out" if args[0] != "bench" else "--json", out if args[0] != "bench" else tmp_path / "r.json")
    assert ran.returncode == 2, ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], ran.stderr
    assert not out.exists() and not (tmp_path / "r.json").exists()


def test_quantize_names_the_layers_a_group_size_does_not_fit(cli, tiny_llama, tmp_path):
    from edgepress.lm.bench import load_lm

    # hidden 64, MLP 128: k, v, o and down are 8-bit (any width); at group 128 the 6 other linears, 64 wide, get group 64
    made = cli("quantize", "--hf", tiny_llama, "--mode", "int4", "--group-size", "128", "--to", "executorch", "--out", tmp_path / "out", "--quiet")
    assert made.returncode == 0, made.stderr
    assert not [line for line in made.stderr.splitlines() if line.startswith("left in float")], made.stderr
    narrower = [line for line in made.stderr.splitlines() if line.startswith("at group")]
    assert narrower == [f"at group 64 in {tiny_llama.name}_int4_pte.pte: 6 layers (mlp.gate_proj, mlp.up_proj, self_attn.q_proj): "
                        "input width 64 is not a multiple of 128; all in the artifact's report"], made.stderr
    eight = [line for line in made.stderr.splitlines() if line.startswith("kept at 8 bits")]
    assert eight == [f"kept at 8 bits in {tiny_llama.name}_int4_pte.pte: 8 layers (mlp.down_proj, self_attn.k_proj, self_attn.o_proj, "
                     "self_attn.v_proj): 4-bit weights there cost the most accuracy; all in the artifact's report"], made.stderr
    facts = load_lm(tmp_path / "out" / f"{tiny_llama.name}_int4_pte").report["quantization"]
    assert facts["float_layers"] == [] and len(facts["narrower_group_layers"]) == 6
    assert {f["group_size"] for f in facts["narrower_group_layers"]} == {64} and not [f for f in facts["narrower_group_layers"] if "down_proj" in f["layer"]]


def test_a_few_float_weights_are_named_one_per_line():
    from edgepress.cli.lm import float_lines

    weights = [{"node": f"n{i}", "shape": [8, 8], "reason": "why"} for i in range(3)] + [{"operator": "FULLY_CONNECTED", "weights": 64, "reason": "other"}]
    assert float_lines("m.onnx", weights) == ["left in float in m.onnx: n0 [8, 8]: why", "left in float in m.onnx: n1 [8, 8]: why",
                                              "left in float in m.onnx: n2 [8, 8]: why", "left in float in m.onnx: 64 weights read by FULLY_CONNECTED: other"]
