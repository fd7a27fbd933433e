"""``edgepress demo --llm``: SmolLM2-135M to ONNX in FP32, INT4 (GPTQ) and INT8 weight-only and to TFLite INT4 (GPTQ), measured and reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgepress.lm.hf import HFModel

# GPTQ: on SmolLM2 +4.7% perplexity against RTN's +22%. INT8 at group 64: on SmolLM2 the same perplexity as group 32
# (-0.21% and -0.03%) at 16% faster decode (benchmarks/results/language_models_onnx_genai.json)
DEMO_VARIANTS = (("int4", "gptq", 32), ("int8_weight", "rtn", 64))
DEMO_EVAL_TOKENS = 2048
NOT_IN_DEMO = ("Not in the demo: ExecuTorch `.pte` (`edgepress convert --hf ... --to executorch`), whose lowering takes 8 to 17 minutes "
               "for this model; `benchmarks/language_models.py` measures it.")


def run_llm_demo(out: Path, progress: Callable[[str], None] = lambda _: None, threads: int | None = None, lm: HFModel | None = None,
                 eval_tokens: int = DEMO_EVAL_TOKENS) -> dict[str, Any]:
    """Export, quantize and measure the built-in decoder (or ``lm``); writes OUT/results_lm.json, OUT/report_lm.md and OUT/report_lm.html."""
    from edgepress.lm.api import gptq_calibration
    from edgepress.lm.bench import bench_lm
    from edgepress.lm.builtin import SMOLLM2_GGUF, smollm2_folder
    from edgepress.lm.hf import HFModel, from_hf
    from edgepress.lm.onnx_export import export_onnx
    from edgepress.lm.onnx_weights import quantize_onnx
    from edgepress.lm.tflite_export import export_tflite
    from edgepress.report.lm_html import write_lm_html
    from edgepress.lm.table import markdown_table
    from edgepress.quantization import Mode, QuantSpec, WeightMethod
    from edgepress.storage import write_json_atomic

    if lm is None:
        progress(f"loading SmolLM2-135M-Instruct ({SMOLLM2_GGUF})")
        loaded = from_hf(smollm2_folder(), "text-generation", gguf_file=SMOLLM2_GGUF)
        lm = HFModel(loaded.model, loaded.tokenizer, loaded.task, "smollm2")
    progress("exporting to ONNX with a KV cache (a few minutes)")
    fp32 = export_onnx(lm, out, stem=f"{lm.name}_fp32")
    made = [fp32]
    calibration = gptq_calibration(lm)  # the end of the text: bench scores its opening
    for mode, method, group in DEMO_VARIANTS:
        progress(f"quantizing: {mode}, {method}, group {group}")
        spec = QuantSpec(Mode(mode), group_size=group, weight_method=WeightMethod(method))
        made.append(quantize_onnx(fp32, spec, out, f"{lm.name}_{mode}_{method}_g{group}", calibration if spec.weight_method is WeightMethod.GPTQ else None))
    progress("exporting to TFLite (prefill and decode signatures) and quantizing it: int4, gptq, group 32 (a few minutes)")
    made.append(export_tflite(lm, out, f"{lm.name}_int4_gptq_g32_tflite", QuantSpec(Mode.INT4, group_size=32, weight_method=WeightMethod.GPTQ),
                              calibration=calibration))
    progress(f"measuring {len(made)} artifacts: perplexity on {eval_tokens} tokens, greedy decode speed")
    doc = bench_lm(made, reference=lm, eval_tokens=eval_tokens, threads=threads)
    write_json_atomic(out / "results_lm.json", doc)
    cpu = doc["environment"]["cpu"]
    text = (f"# SmolLM2-135M on the host CPU\n\nCPU: {cpu.get('model', '?')} ({', '.join(cpu.get('int8_features', [])) or 'no INT8 extensions'}), "
            f"threads: {doc['environment']['threads'] or 'all'}. Text: {doc['text']}.\n\n{markdown_table(doc)}\n\n{NOT_IN_DEMO}\n")
    (out / "report_lm.md").write_text(text)
    write_lm_html(doc, out / "report_lm.html", "SmolLM2-135M on the host CPU")
    return doc
