"""Inline SVG plots drawn from results: the Pareto scatter and latency distributions.

Hand-written SVG keeps the HTML report one self-contained file with no script library,
no font or image request and no network access; the plots are a few kilobytes each.
Every string placed in the SVG (artifact labels, target names) is XML-escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from edgepress.results import BenchResult
from edgepress.report.summary import label, p50, quality, speed_comparable, targets

WIDTH, HEIGHT = 720, 400
MARGIN = {"left": 70, "right": 150, "top": 20, "bottom": 50}
MAX_DOTS = 300  # raw samples drawn per row; more add ink, not information


def pareto_svg(results: Sequence[BenchResult], front: Sequence[BenchResult], quality_label: str, target: str) -> Markup:
    """Size (x) vs p50 latency (y) of the cells on ``target``; colour = quality; front ringed and joined.

    One plot per target: latencies of different machines (and of emulators) do not share a scale.
    """
    cells = [r for r in results if r.target == target and r.ok and p50(r) is not None]
    if not cells:
        return Markup('<p class="empty">No successful measurement to plot on this target.</p>')
    xs = [float(r.artifact["size_bytes"]) / 1024 for r in cells]
    ys = [float(p50(r) or 0.0) for r in cells]
    qs = [q for q in (quality(r) for r in results if r.ok) if q is not None]
    sx, sy = _Axis(min(xs), max(xs), log=True, horizontal=True), _Axis(0.0, max(ys), log=False, horizontal=False)
    on_front = {id(r) for r in front}
    parts = [_svg_open(f"Pareto plot on {target}: size against latency, coloured by {quality_label}")]
    parts += sx.draw("size (KiB, log scale)" if sx.log else "size (KiB)") + sy.draw("p50 latency (ms)")
    parts += _front_lines(cells, on_front, sx, sy)
    for r, x, y in zip(cells, xs, ys):
        parts.append(_marker(r, sx.map(x), sy.map(y), "circle", _colour(quality(r), qs), id(r) in on_front))
    parts += _legend(target, qs, quality_label, emulated=not speed_comparable(cells[0]))
    parts.append("</svg>")
    return Markup("".join(parts))


def latency_svg(results: Sequence[BenchResult], target: str) -> Markup:
    """One row per cell on ``target``: raw samples as dots, p25-p75 box, median, min..p99 whiskers."""
    rows = [r for r in results if r.target == target and r.latency_ms and r.latency_ms.samples]
    if not rows:
        return Markup('<p class="empty">No latency samples on this target.</p>')
    height = MARGIN["top"] + MARGIN["bottom"] + 34 * len(rows)
    top = max(r.latency_ms.p99 for r in rows if r.latency_ms) * 1.1
    sx = _Axis(0.0, top, log=False, horizontal=True, height=height, left=190)
    parts = [_svg_open(f"Latency distribution on {target}", height)] + sx.draw("latency (ms); whiskers min to p99, dots: every timed run")
    for index, r in enumerate(rows):
        parts += _box_row(r, sx, MARGIN["top"] + 34 * index + 17)
    parts.append("</svg>")
    return Markup("".join(parts))


class _Axis:
    """A linear or log axis mapping data values to pixels, with its ticks and label."""

    def __init__(self, lo: float, hi: float, *, log: bool, horizontal: bool, height: int = HEIGHT, left: int = MARGIN["left"]) -> None:
        self.log = log and lo > 0 and hi / lo > 4
        if hi <= lo:
            lo, hi = (lo / 2, hi * 2) if self.log else (lo - 1.0, hi + 1.0)
        pad = (math.log10(hi) - math.log10(lo)) * 0.08 if self.log else (hi - lo) * 0.05
        self.lo, self.hi = (math.log10(lo) - pad, math.log10(hi) + pad) if self.log else (lo if lo == 0 else lo - pad, hi + pad)
        self.horizontal, self.height, self.left = horizontal, height, left
        span = (WIDTH - MARGIN["right"] - left) if horizontal else (height - MARGIN["top"] - MARGIN["bottom"])
        self.span = span

    def map(self, value: float) -> float:
        v = math.log10(max(value, 1e-12)) if self.log else value
        frac = (v - self.lo) / (self.hi - self.lo)
        if self.horizontal:
            return self.left + frac * self.span
        return self.height - MARGIN["bottom"] - frac * self.span

    def draw(self, title: str) -> list[str]:
        parts = []
        base_y = self.height - MARGIN["bottom"]
        for value in self.ticks():
            pos = self.map(value)
            text = _fmt(value)
            if self.horizontal:
                parts.append(f'<line class="grid" x1="{pos:.1f}" x2="{pos:.1f}" y1="{MARGIN["top"]}" y2="{base_y}"/>')
                parts.append(f'<text class="tick" x="{pos:.1f}" y="{base_y + 16}" text-anchor="middle">{text}</text>')
            else:
                parts.append(f'<line class="grid" x1="{self.left}" x2="{WIDTH - MARGIN["right"]}" y1="{pos:.1f}" y2="{pos:.1f}"/>')
                parts.append(f'<text class="tick" x="{self.left - 6}" y="{pos + 4:.1f}" text-anchor="end">{text}</text>')
        if self.horizontal:
            mid = self.left + self.span / 2
            parts.append(f'<text class="axis" x="{mid:.1f}" y="{base_y + 38}" text-anchor="middle">{escape(title)}</text>')
        else:
            mid = MARGIN["top"] + self.span / 2
            parts.append(f'<text class="axis" transform="translate(16 {mid:.1f}) rotate(-90)" text-anchor="middle">{escape(title)}</text>')
        return parts

    def ticks(self) -> list[float]:
        if self.log:
            values = [m * 10.0**e for e in range(math.floor(self.lo), math.ceil(self.hi) + 1) for m in (1, 2, 5)]
            return [v for v in values if self.lo <= math.log10(v) <= self.hi]
        step = _nice_step((self.hi - self.lo) / 5)
        first = math.ceil(self.lo / step) * step
        return [first + i * step for i in range(int((self.hi - first) / step) + 1)]


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _svg_open(title: str, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )


def _colour(q: float | None, all_q: Sequence[float]) -> str:
    """Red (worst quality seen) to green (best); grey when the cell has no quality."""
    if q is None or not all_q:
        return "#999999"
    lo, hi = min(all_q), max(all_q)
    frac = 1.0 if hi == lo else (q - lo) / (hi - lo)
    return f"hsl({120 * frac:.0f}, 70%, 42%)"


def _marker(r: BenchResult, x: float, y: float, shape: str, colour: str, front: bool) -> str:
    q = quality(r)
    tip = f"{label(r)} on {r.target}: {r.artifact['size_bytes']} bytes, p50 {p50(r):.3f} ms" + (f", quality {q:.4f}" if q is not None else "")
    hollow = not speed_comparable(r)
    style = f'fill="{"none" if hollow else colour}" stroke="{colour if hollow else "#222"}" stroke-width="{2.5 if front else 1}"'
    cls = "pt front" if front else "pt"
    inner = f"<title>{escape(tip)}{' (emulated: timing not comparable)' if hollow else ''}</title>"
    return f'<g class="{cls}">{_shape(shape, x, y, 7 if front else 5, style, inner)}</g>'


def _shape(shape: str, x: float, y: float, r: float, style: str, inner: str = "") -> str:
    """An SVG marker element; ``inner`` (e.g. an escaped <title>) goes inside it."""
    if shape == "circle":
        tag, attrs = "circle", f'cx="{x:.1f}" cy="{y:.1f}" r="{r}"'
    elif shape == "square":
        tag, attrs = "rect", f'x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}"'
    else:
        pts = [(x, y - r * 1.2), (x + r * 1.1, y + r * 0.8), (x - r * 1.1, y + r * 0.8)] if shape == "triangle" else [(x, y - r * 1.3), (x + r, y), (x, y + r * 1.3), (x - r, y)]
        tag, attrs = "polygon", 'points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"'
    return f"<{tag} {attrs} {style}>{inner}</{tag}>"


def _front_lines(cells: Sequence[BenchResult], on_front: set[int], sx: _Axis, sy: _Axis) -> list[str]:
    parts = []
    for target in targets(cells):
        pts = sorted((float(r.artifact["size_bytes"]) / 1024, float(p50(r) or 0.0)) for r in cells if r.target == target and id(r) in on_front and speed_comparable(r))
        if len(pts) > 1:
            path = " ".join(f"{sx.map(x):.1f},{sy.map(y):.1f}" for x, y in pts)
            parts.append(f'<polyline class="front" points="{path}"/>')
    return parts


def _legend(target: str, qs: Sequence[float], quality_label: str, emulated: bool) -> list[str]:
    x = WIDTH - MARGIN["right"] + 16
    y = MARGIN["top"] + 4
    parts = [f'<text class="legend" x="{x}" y="{y}">colour: {escape(quality_label)}</text>']
    for step in range(11):
        parts.append(f'<rect x="{x + step * 11}" y="{y + 6}" width="11" height="10" fill="hsl({12 * step}, 70%, 42%)"/>')
    if qs:
        parts.append(f'<text class="tick" x="{x}" y="{y + 30}">{min(qs):.3f}</text><text class="tick" x="{x + 121}" y="{y + 30}" text-anchor="end">{max(qs):.3f}</text>')
    parts.append(f'<text class="tick" x="{x}" y="{y + 50}">ringed and joined:</text><text class="tick" x="{x}" y="{y + 64}">the Pareto front</text>')
    if emulated:
        parts.append(f'<text class="tick" x="{x}" y="{y + 88}">emulated: timing not</text><text class="tick" x="{x}" y="{y + 102}">comparable (hollow)</text>')
    return parts


def _box_row(r: BenchResult, sx: _Axis, y: float) -> list[str]:
    import numpy as np

    lat = r.latency_ms
    assert lat is not None  # rows are filtered on latency_ms
    samples = np.asarray(lat.samples, dtype=float)
    q25, q75 = np.percentile(samples, [25, 75])
    clip = sx.hi
    parts = [f'<text class="tick" x="{sx.left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label(r)[:28])}</text>']
    step = max(1, len(samples) // MAX_DOTS)
    for index, value in enumerate(samples[::step]):
        jitter = ((index * 7919) % 17 - 8) * 0.9  # deterministic spread so dots do not overlap
        parts.append(f'<circle class="dot" cx="{sx.map(min(value, clip)):.1f}" cy="{y + jitter:.1f}" r="1.6"/>')
    parts.append(f'<line class="whisker" x1="{sx.map(lat.min):.1f}" x2="{sx.map(min(lat.p99, clip)):.1f}" y1="{y:.1f}" y2="{y:.1f}"/>')
    parts.append(f'<rect class="box" x="{sx.map(q25):.1f}" y="{y - 8:.1f}" width="{max(1.0, sx.map(q75) - sx.map(q25)):.1f}" height="16"/>')
    parts.append(f'<line class="median" x1="{sx.map(lat.p50):.1f}" x2="{sx.map(lat.p50):.1f}" y1="{y - 9:.1f}" y2="{y + 9:.1f}"><title>{escape(label(r))}: p50 {lat.p50:.3f} ms, p90 {lat.p90:.3f}, p99 {lat.p99:.3f}, n={lat.n}</title></line>')
    return parts
