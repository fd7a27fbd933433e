"""``edgepress demo --llm`` end to end, on the tiny Llama instead of SmolLM2 (the real run takes about 12 minutes)."""

from __future__ import annotations

import json


def test_the_llm_demo_makes_measures_and_reports_every_artifact(tiny_llama, tmp_path):
    from edgepress.demo_lm import NOT_IN_DEMO, run_llm_demo
    from edgepress.lm.hf import from_hf

    lm = from_hf(tiny_llama, "text-generation")
    steps: list[str] = []
    doc = run_llm_demo(tmp_path, steps.append, threads=1, lm=lm, eval_tokens=400)
    rows = doc["results"]
    assert [r["artifact"].split(".")[-1] for r in rows] == ["onnx", "onnx", "onnx", "tflite"]
    assert [(r.get("quantization") or {}).get("mode") for r in rows] == [None, "int4", "int8_weight", "int4"]
    assert all("error" not in r and r["generation"]["decode_tok_s"] > 0 for r in rows)
    fp32 = rows[0]
    assert fp32["quality"]["greedy_match_tokens"] == fp32["generation"]["new_tokens"]  # the FP32 export generates what PyTorch does
    assert rows[1]["quantization"]["method"] == rows[3]["quantization"]["method"] == "gptq"  # INT4 is GPTQ in both formats
    assert rows[1]["quantization"]["calibration"]["windows"] == 16 and rows[3]["quantization"]["gptq_layers"] > 0
    assert json.loads((tmp_path / "results_lm.json").read_text())["results"][2]["quality"]["perplexity"] == rows[2]["quality"]["perplexity"]
    report = (tmp_path / "report_lm.md").read_text()
    assert all(r["artifact"] in report for r in rows) and NOT_IN_DEMO in report
    assert "<svg" in (tmp_path / "report_lm.html").read_text()
    assert any("measuring 4 artifacts: perplexity on 400 tokens" in s for s in steps)
