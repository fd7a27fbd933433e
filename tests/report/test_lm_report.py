"""The language-model report: HTML (table and Pareto plot) and Markdown from an ``edgepress.lm-results`` document."""

from __future__ import annotations

import json

import pytest

from edgepress.errors import BadInputError
from edgepress.report.writer import write_report


def _row(name: str, size: float, tok_s: float, perplexity: float, quantized: bool = True) -> dict:
    return {"artifact": name, "size_bytes": int(size * 1e6), "quantization": {"mode": "int4"} if quantized else None,
            "generation": {"ttft_ms": 100.0, "decode_tok_s": tok_s}, "quality": {"perplexity": perplexity, "next_token_agreement": 0.9, "kl_div": 0.1}}


@pytest.fixture
def doc_file(tmp_path):
    doc = {"schema": "edgepress.lm-results", "schema_version": 1, "task": "text-generation",
           "environment": {"cpu": {"model": "Test CPU", "int8_features": ["avx2"]}, "threads": 2}, "text": "user text",
           "settings": {"prompt_tokens": 16, "new_tokens": 8}, "reference": {"name": "tiny", "perplexity": 10.0},
           "results": [_row("fp32.onnx", 500, 20, 10.0, quantized=False), _row("int4.onnx", 130, 40, 12.0),
                       _row("slow_int4.onnx", 140, 10, 12.5), _row("<script>alert(1)</script>.onnx", 135, 41, 12.2),
                       {"artifact": "broken.gguf", "error": "it crashed"}]}
    path = tmp_path / "lm.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_lm_report_marks_the_front_and_escapes_names(doc_file, tmp_path):
    from edgepress.report.lm_html import pareto

    html, md = write_report(doc_file, html=tmp_path / "r.html", md=tmp_path / "r.md")
    page = html.read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;.onnx" in page
    assert "script-src" not in page and "default-src 'none'" in page  # no script at all, no requests
    assert page.count('class="pt front"') == 3 and page.count('class="pt"') == 1  # slow_int4 is beaten on size, speed and perplexity
    assert "<td>+20.00%</td>" in page and "it crashed" in page and "Test CPU (avx2)" in page
    rows = json.loads(doc_file.read_text())["results"][:4]
    assert {r["artifact"] for r in rows if id(r) in pareto(rows, decoder=True)} == {"fp32.onnx", "int4.onnx", "<script>alert(1)</script>.onnx"}
    assert "| int4.onnx | 130.0 | 0.26 |" in md.read_text()


def test_lm_results_are_reported_on_their_own(doc_file, tmp_path):
    tensor_results = tmp_path / "results.json"
    tensor_results.write_text(json.dumps({"schema": "edgepress.results", "results": []}))
    with pytest.raises(BadInputError, match="reported on their own"):
        write_report([doc_file, tensor_results], html=tmp_path / "r.html")
    with pytest.raises(BadInputError, match="--csv is not made for language-model results"):
        write_report(doc_file, csv=tmp_path / "r.csv")
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.csv").exists()
