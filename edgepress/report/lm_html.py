"""The self-contained HTML report of a language-model run (``edgepress.lm-results``): a table and a Pareto plot.

Decoders are plotted as size against decode tokens/s, coloured by perplexity (lower is
better); encoders as size against p50 latency, coloured by embedding cosine. The front
is the artifacts no other one beats on size, speed and quality together. As in the
tensor-model report, every string from a model or a file is escaped (Jinja2 autoescape,
XML-escaped SVG) and the page may make no request and run no script.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from markupsafe import Markup

from edgepress.report.plots import MARGIN, WIDTH, _Axis, _colour, _shape, _svg_open

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ style }}</style></head><body>
<h1>{{ title }}</h1>
<p>{{ task }} on {{ cpu }}; threads: {{ threads }}; text: {{ text }}; {{ settings }}</p>
{% if reference %}<p>Reference (PyTorch): {{ reference }}</p>{% endif %}
<h2>Size, speed and quality</h2>
{{ plot }}
<table><thead><tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr{% if row.front %} class="front"{% endif %}>{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
<p>Rows in bold are on the Pareto front (smaller, faster and better quality together). Ratios are against the first float artifact.</p>
</body></html>
"""


def render_lm_html(doc: dict[str, Any], title: str = "edgepress language-model report") -> str:
    """The report of one ``edgepress.lm-results`` document as one HTML string."""
    from jinja2 import Environment, StrictUndefined

    from edgepress.report.template import STYLE

    decoder = doc["task"] == "text-generation"
    rows = [r for r in doc["results"] if "error" not in r]
    front = pareto(rows, decoder)
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    cpu = doc["environment"]["cpu"]
    ref = doc.get("reference") or {}
    context = {
        "title": title, "task": doc["task"], "text": doc["text"], "threads": doc["environment"].get("threads") or "all",
        "cpu": f"{cpu.get('model', '?')} ({', '.join(cpu.get('int8_features', [])) or 'no INT8 extensions'})",
        "settings": ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in doc["settings"].items()),
        "reference": (f"{ref.get('name')}, perplexity {ref['perplexity']:.3f}" if ref.get("perplexity") else ref.get("name", "")),
        "plot": pareto_plot(rows, front, decoder), "style": Markup(STYLE + "tr.front td{font-weight:600}"),
        "header": HEADERS[decoder], "rows": [{"cells": _cells(r, doc, decoder), "front": id(r) in front} for r in doc["results"]],
    }
    return env.from_string(TEMPLATE).render(**context)


def write_lm_html(doc: dict[str, Any], path: Path, title: str = "edgepress language-model report") -> Path:
    from edgepress.report.files import write_text_atomic

    return write_text_atomic(Path(path), render_lm_html(doc, title))


HEADERS = {
    True: ["artifact", "size MB", "x FP32", "TTFT ms", "decode tok/s", "x FP32", "perplexity", "vs reference", "next-token agreement", "KL"],
    False: ["artifact", "size MB", "x FP32", "p50 ms", "x FP32", "cosine mean", "cosine min"],
}


def _speed(r: dict[str, Any], decoder: bool) -> float:
    return float(r["generation"]["decode_tok_s"]) if decoder else float(r["latency_ms"]["p50"])


def _quality(r: dict[str, Any], decoder: bool) -> float | None:
    q = r.get("quality", {})
    return q.get("perplexity") if decoder else q.get("cosine_mean")


def pareto(rows: list[dict[str, Any]], decoder: bool) -> set[int]:
    """ids of the rows no other row beats on size, speed and quality at once."""
    def costs(r: dict[str, Any]) -> tuple[float, float, float]:
        q = _quality(r, decoder)
        speed = -_speed(r, decoder) if decoder else _speed(r, decoder)  # tokens/s up, milliseconds down
        worse = float("inf") if q is None else (q if decoder else -q)  # perplexity down, cosine up
        return float(r["size_bytes"]), speed, worse

    points = [(id(r), costs(r)) for r in rows]
    return {i for i, p in points if not any(all(a <= b for a, b in zip(o, p)) and o != p for _, o in points)}


def pareto_plot(rows: list[dict[str, Any]], front: set[int], decoder: bool) -> Markup:
    if not rows:
        return Markup('<p class="empty">No successful measurement to plot.</p>')
    xs = [r["size_bytes"] / 1e6 for r in rows]
    ys = [_speed(r, decoder) for r in rows]
    qs = [q for q in (_quality(r, decoder) for r in rows) if q is not None]
    scale = [-q for q in qs] if decoder else qs  # the colour runs red (worst) to green (best)
    sx, sy = _Axis(min(xs), max(xs), log=True, horizontal=True), _Axis(0.0, max(ys), log=False, horizontal=False)
    what = "decode tokens/s" if decoder else "p50 latency (ms, sequence 128)"
    parts = [_svg_open(f"Size against {what}, coloured by {'perplexity' if decoder else 'cosine'}")]
    parts += sx.draw("size (MB, log scale)" if sx.log else "size (MB)") + sy.draw(what)
    for r, x, y in zip(rows, xs, ys):
        q = _quality(r, decoder)
        colour = _colour(None if q is None else (-q if decoder else q), scale)
        on = id(r) in front
        tip = f"{r['artifact']}: {x:.1f} MB, {what} {y:.3g}" + (f", {'perplexity' if decoder else 'cosine'} {q:.4f}" if q is not None else "")
        style = f'fill="{colour}" stroke="#222" stroke-width="{2.5 if on else 1}"'
        parts.append(f'<g class="{"pt front" if on else "pt"}">{_shape("circle", sx.map(x), sy.map(y), 7 if on else 5, style, f"<title>{escape(tip)}</title>")}</g>')
        parts.append(f'<text class="tick" x="{sx.map(x) + 9:.1f}" y="{sy.map(y) + 4:.1f}">{escape(r["artifact"][:32])}</text>')
    legend_x = WIDTH - MARGIN["right"] + 16
    parts.append(f'<text class="legend" x="{legend_x}" y="{MARGIN["top"] + 4}">colour: {"perplexity" if decoder else "cosine"}</text>')
    if qs:
        best, worst = (min(qs), max(qs)) if decoder else (max(qs), min(qs))
        parts.append(f'<text class="tick" x="{legend_x}" y="{MARGIN["top"] + 24}">green {best:.4g}, red {worst:.4g}</text>')
    parts.append(f'<text class="tick" x="{legend_x}" y="{MARGIN["top"] + 44}">ringed: the Pareto front</text></svg>')
    return Markup("".join(parts))


def _cells(r: dict[str, Any], doc: dict[str, Any], decoder: bool) -> list[str]:
    if "error" in r:
        return [r["artifact"], r["error"]]
    base = next((b for b in doc["results"] if not b.get("quantization") and "error" not in b), r)
    size = [r["artifact"], f"{r['size_bytes'] / 1e6:.1f}", f"{r['size_bytes'] / base['size_bytes']:.2f}"]
    q = r["quality"]
    if decoder:
        g, ref = r["generation"], (doc.get("reference") or {}).get("perplexity")
        vs = f"{(q['perplexity'] / ref - 1) * 100:+.2f}%" if ref else ""
        return size + [f"{g['ttft_ms']:.0f}", f"{g['decode_tok_s']:.1f}", f"{g['decode_tok_s'] / base['generation']['decode_tok_s']:.2f}",
                       f"{q['perplexity']:.3f}", vs, _fmt(q.get("next_token_agreement"), 100, "%"), _fmt(q.get("kl_div"), 1, "")]
    return size + [f"{r['latency_ms']['p50']:.2f}", f"{r['latency_ms']['p50'] / base['latency_ms']['p50']:.2f}",
                   _fmt(q.get("cosine_mean"), 1, ""), _fmt(q.get("cosine_min"), 1, "")]


def _fmt(value: float | None, scale: float, unit: str) -> str:
    return "" if value is None else f"{value * scale:.4g}{unit}"
