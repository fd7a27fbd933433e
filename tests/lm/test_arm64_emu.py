"""Decoders and encoders on arm64-emu: the speed worker under real QEMU with the sysroot's aarch64 ONNX Runtime and LiteRT."""

from __future__ import annotations

import pytest

from edgepress.artifact import Format
from edgepress.errors import BadInputError
from edgepress.lm.hf import from_hf
from edgepress.targets.arm import Arm64Emu

REASON = Arm64Emu().unavailable_reason()


def test_what_arm64_emu_does_not_run_is_refused_in_one_line():
    from edgepress.lm.targets import lm_runner

    with pytest.raises(BadInputError, match=r"language models are measured on host-cpu or arm64-emu\[:CPU\] \(got --target gpu\)"):
        lm_runner("gpu", {Format.ONNX})
    with pytest.raises(BadInputError, match="does not run .pte language models on arm64-emu: its emulation sysroot carries ExecuTorch 1.0.1"):
        lm_runner("arm64-emu", {Format.ONNX, Format.EXECUTORCH})
    with pytest.raises(BadInputError, match="unknown arm64-emu CPU model 'cortex-z9'"):
        lm_runner("arm64-emu:cortex-z9", {Format.ONNX})


@pytest.mark.arm
@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=f"arm64-emu unavailable: {REASON}")
def test_onnx_and_tflite_decoders_generate_the_hosts_tokens_under_qemu(tiny_llama, tmp_path):
    from edgepress.lm.api import convert_lm, quantize_lm
    from edgepress.lm.bench import bench_lm

    lm = from_hf(tiny_llama)
    made = convert_lm(lm, ["onnx", "tflite"], tmp_path) + quantize_lm(lm, "int4", group_size=32, formats=["onnx"], out_dir=tmp_path)
    doc = bench_lm(made, reference=lm, prompt_tokens=12, new_tokens=10, eval_tokens=200, window=100, threads=1, target="arm64-emu:cortex-a76")
    env = doc["environment"]
    assert env["target"] == "arm64-emu:cortex-a76" and env["emulated"] is True and env["runtime"]["onnxruntime"]
    onnx, tflite, int4 = doc["results"]
    for row in (onnx, tflite):  # FP32: the reference's tokens, on the emulated core as on the host
        assert "error" not in row, row.get("error")
        assert row["target"] == "arm64-emu:cortex-a76" and row["generation"]["rounds"] == 1
        assert row["quality"]["host_match_tokens"] == 10 and row["quality"]["greedy_match_tokens"] == 10, row["quality"]
    assert "error" not in int4 and 0 <= int4["quality"]["host_match_tokens"] <= 10  # INT4 kernels differ per ISA: reported, not required


@pytest.mark.arm
@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=f"arm64-emu unavailable: {REASON}")
def test_onnx_and_tflite_encoders_embed_as_on_the_host_under_qemu(tiny_bert, tmp_path):
    from edgepress.lm.api import convert_lm, quantize_lm
    from edgepress.lm.bench import EMULATED_SENTENCES, bench_lm

    bert = from_hf(tiny_bert, "feature-extraction")
    made = convert_lm(bert, ["onnx", "tflite"], tmp_path) + quantize_lm(bert, "int8_dynamic", formats=["onnx"], out_dir=tmp_path)
    doc = bench_lm(made, reference=bert, threads=1, sentences=20, target="arm64-emu:cortex-a76")
    assert doc["environment"]["emulated"] is True
    onnx, tflite, int8 = doc["results"]
    for row in (onnx, tflite):  # FP32: the same embeddings on the emulated core as on the host
        assert "error" not in row, row.get("error")
        assert row["target"] == "arm64-emu:cortex-a76" and row["rounds"] == 1 and "check_embeddings" not in row
        assert row["quality"]["host_cosine_min"] > 0.9999 and row["quality"]["cosine_min"] > 0.9999, row["quality"]
    assert "error" not in int8 and 0.9 < int8["quality"]["host_cosine_min"] <= 1.0 + 1e-9  # int8 kernels differ per ISA: reported
    assert EMULATED_SENTENCES < 20 and int8["quality"]["sentences"] == 20  # the host's quality covers every sentence
