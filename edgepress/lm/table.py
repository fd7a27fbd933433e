"""A language-model results document as a Markdown table (README, demo report, benchmark output)."""

from __future__ import annotations

from typing import Any


def markdown_table(doc: dict[str, Any]) -> str:
    """One row per artifact; ratios are against the first float artifact measured (the FP32 export)."""
    rows = doc["results"]
    base = next((r for r in rows if not r.get("quantization") and "error" not in r and "size_bytes" in r), rows[0])
    lines = []
    if doc["task"] == "text-generation":
        ref = (doc.get("reference") or {}).get("perplexity") or float("nan")
        lines.append(f"reference (PyTorch) perplexity {ref:.3f}")
        lines.append("| artifact | size MB | x FP32 | TTFT ms | decode tok/s | x FP32 | perplexity | vs ref | next-token agree | KL |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['artifact']} | {r['error']} |")
                continue
            g, q = r["generation"], r["quality"]
            lines.append(f"| {r['artifact']} | {r['size_bytes'] / 1e6:.1f} | {r['size_bytes'] / base['size_bytes']:.2f} | {g['ttft_ms']:.0f} | "
                         f"{g['decode_tok_s']:.1f} | {g['decode_tok_s'] / base['generation']['decode_tok_s']:.2f} | {q['perplexity']:.3f} | "
                         f"{(q['perplexity'] / ref - 1) * 100:+.2f}% | {_pct(q.get('next_token_agreement'))} | {_num(q.get('kl_div'))} |")
    else:
        lines.append("| artifact | size MB | x FP32 | p50 ms (seq 128) | x FP32 | cosine mean | cosine min |")
        lines.append("|---|---|---|---|---|---|---|")
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['artifact']} | {r['error']} |")
                continue
            q = r["quality"]
            lines.append(f"| {r['artifact']} | {r['size_bytes'] / 1e6:.1f} | {r['size_bytes'] / base['size_bytes']:.2f} | {r['latency_ms']['p50']:.2f} | "
                         f"{r['latency_ms']['p50'] / base['latency_ms']['p50']:.2f} | {q['cosine_mean']:.5f} | {q['cosine_min']:.5f} |")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x * 100:.1f}%"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"
