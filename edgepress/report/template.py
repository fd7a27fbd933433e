"""The HTML report's Jinja2 template: inline CSS and one small inline script, nothing fetched."""

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:0 20px 60px;color:#1d2329}
h1{margin:24px 0 4px}h2{margin-top:34px;border-bottom:1px solid #d6dbe0;padding-bottom:4px}
.meta{color:#5b6670}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #d6dbe0;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f0f3f6;cursor:pointer;user-select:none}td.l,th.l{text-align:left}
tr.err td{background:#fff1f0}.flag{display:inline-block;background:#fff4d6;border:1px solid #e8c96a;border-radius:3px;padding:0 5px;margin:1px;font-size:12px}
.flag.error{background:#ffe0de;border-color:#e89a94}.ok{color:#1a7f37}.bad{color:#b42318}
.banner{background:#fff8e6;border:1px solid #e8c96a;padding:8px 12px;border-radius:4px}
.plot{max-width:100%;height:auto;background:#fff}.plot .grid{stroke:#e6e9ec}.plot .tick{font-size:11px;fill:#4a545e}
.plot .axis{font-size:12px;fill:#1d2329}.plot .legend{font-size:12px;fill:#1d2329}
.plot .front{fill:none;stroke:#333;stroke-dasharray:4 3}.plot .dot{fill:#2f6db5;opacity:.35}
.plot .whisker{stroke:#333}.plot .box{fill:#cfe0f5;stroke:#2f6db5}.plot .median{stroke:#b42318;stroke-width:2.5}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}details{margin:4px 0}
ul.lineage{margin:2px 0;padding-left:18px}.card{border:1px solid #d6dbe0;border-radius:4px;padding:8px 12px;margin:10px 0}
"""

# Sorts a table by the clicked column (numbers numerically, '-' last).
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var asc = th.dataset.dir !== "asc";
    th.dataset.dir = asc ? "asc" : "desc";
    var key = function (tr) {
      var t = tr.cells[col] ? tr.cells[col].dataset.v || tr.cells[col].textContent : "";
      var n = parseFloat(t);
      return isNaN(n) ? t : n;
    };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    }).forEach(function (tr) { body.appendChild(tr); });
  });
});
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{{ script_hash }}'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ style }}</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ results|length }} measurement(s), {{ artifacts|length }} artifact(s), {{ target_names|length }} target(s){% if created %}; results written {{ created }}{% endif %}{% if sources %}; from {{ sources|join(", ") }}{% endif %}.</p>
{% if flags %}<p class="banner">Validity: {% for name, count in flags.items() %}<span class="flag {{ 'error' if name == 'error' else '' }}" title="{{ flag_help.get(name, '') }}">{{ name }} &times; {{ count }}</span> {% endfor %}
{% for name in flags %}{% if name in flag_help %}<br><b>{{ name }}</b>: {{ flag_help[name] }}{% endif %}{% endfor %}</p>{% endif %}
{% for line in highlights %}<p class="card">{{ line }}</p>{% endfor %}

<h2 id="summary">Summary: best per target</h2>
<table class="sortable"><thead><tr><th class="l">target</th><th class="l">smallest</th><th class="l">fastest (p50)</th><th class="l">best {{ quality_label }}</th></tr></thead><tbody>
{% for b in bests %}<tr><td class="l">{{ b.target }}</td>
<td class="l">{% if b.size %}{{ label(b.size) }} ({{ b.size.artifact.size_bytes|bytes }}){% else %}-{% endif %}</td>
<td class="l">{% if b.latency %}{{ label(b.latency) }} ({{ b.latency.latency_ms.p50|ms }} ms){% else %}- (no speed-comparable timing){% endif %}</td>
<td class="l">{% if b.quality %}{{ label(b.quality) }} ({{ quality(b.quality)|pct }}){% else %}-{% endif %}</td></tr>
{% endfor %}</tbody></table>

<h2 id="pareto">Pareto: size, latency, {{ quality_label }}</h2>
{% for t in target_names %}<figure><h3>{{ t }}</h3>{{ pareto_plot(t) }}<figcaption class="meta">Each mark is one artifact. On the front: {% for r in front if r.target == t %}{{ label(r) }}{{ ", " if not loop.last }}{% else %}none{% endfor %}.</figcaption></figure>
{% endfor %}

{% for t in target_names %}
<h2 id="target-{{ loop.index }}">Target {{ t }}</h2>
<table class="sortable"><thead><tr><th class="l">artifact</th><th class="l">format</th><th>size</th><th>init ms</th><th>1st ms</th><th title="the runtime's inference call alone, inputs already in its own form">p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>n</th><th title="host arrays into the runtime's form and back (quantize, copy), timed apart; p50">io ms</th><th>peak RSS</th><th>max|err|</th><th>cosine</th><th>top-1 agree</th><th>accuracy</th><th class="l">flags / error</th></tr></thead><tbody>
{% for r in results if r.target == t %}<tr class="{{ 'err' if r.error else '' }}">
<td class="l">{{ label(r) }}</td><td class="l">{{ r.artifact.format }}</td><td data-v="{{ r.artifact.size_bytes }}">{{ r.artifact.size_bytes|bytes }}</td>
<td>{{ r.init_ms|num(1) }}</td><td>{{ r.first_inference_ms|num(2) }}</td>
<td>{{ (r.latency_ms.p50 if r.latency_ms else none)|num(3) }}</td><td>{{ (r.latency_ms.p90 if r.latency_ms else none)|num(3) }}</td><td>{{ (r.latency_ms.p99 if r.latency_ms else none)|num(3) }}</td><td>{{ r.latency_ms.n if r.latency_ms else "-" }}</td><td>{{ (r.io_ms.p50 if r.io_ms else none)|num(3) }}</td>
<td data-v="{{ r.peak_rss_bytes or '' }}">{{ r.peak_rss_bytes|bytes }}</td>
<td>{{ (r.drift.max_abs if r.drift else none)|sci }}</td><td>{{ (r.drift.cosine if r.drift else none)|num(6) }}</td><td>{{ (r.drift.top1_agreement if r.drift else none)|pct }}</td><td>{{ r.accuracy|pct }}</td>
<td class="l">{% for f in r.flags %}<span class="flag">{{ f }}</span>{% endfor %}{% if r.error %}<span class="flag error">error</span> {{ r.error }}{% endif %}</td></tr>
{% endfor %}</tbody></table>
<h3>Latency distribution on {{ t }}</h3>
{{ latency_plot(t) }}
{% endfor %}

<h2 id="cross-target">Cross-target drift</h2>
{% if cross %}{% for name, rows in cross %}<div class="card"><b>{{ name }}</b> <span class="mono">{{ rows[0].artifact.sha256[:12] }}</span>
<table><thead><tr><th class="l">target</th><th>p50 ms</th><th>max|err|</th><th>mean|err|</th><th>cosine min</th><th>top-1 agree</th><th>accuracy</th><th class="l">flags / error</th></tr></thead><tbody>
{% for r in rows %}<tr><td class="l">{{ r.target }}</td><td>{{ (r.latency_ms.p50 if r.latency_ms else none)|num(3) }}</td><td>{{ (r.drift.max_abs if r.drift else none)|sci }}</td><td>{{ (r.drift.mean_abs if r.drift else none)|sci }}</td><td>{{ (r.drift.cosine_min if r.drift else none)|num(6) }}</td><td>{{ (r.drift.top1_agreement if r.drift else none)|pct }}</td><td>{{ r.accuracy|pct }}</td><td class="l">{{ r.flags|join(", ") }}{% if r.error %} error: {{ r.error }}{% endif %}</td></tr>{% endfor %}
</tbody></table></div>{% endfor %}
{% else %}<p class="meta">No artifact was measured on more than one target.</p>{% endif %}

<h2 id="lineage">Artifacts: lineage and conversion report</h2>
{% for r in artifacts %}<div class="card"><b>{{ label(r) }}</b> &middot; {{ r.artifact.format }} &middot; {{ r.artifact.size_bytes|bytes }} &middot; <span class="mono">sha256 {{ r.artifact.sha256 }}</span><br>
<span class="mono">{{ r.artifact.path or "(in memory)" }}</span>
<ul class="lineage">{% for step in r.artifact.lineage %}<li><code>{{ step }}</code></li>{% else %}<li>(original model, no passes)</li>{% endfor %}</ul>
{% set rep = r.artifact.report or {} %}
{% for key, value in rep.items() %}{% if value is mapping %}<details{{ " open" if key in open_keys }}><summary>{{ key }} ({{ value|length }})</summary><table><tbody>{% for k, v in value.items() %}<tr><td class="l mono">{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</tbody></table></details>
{% else %}<div><span class="meta">{{ key }}:</span> {{ value if value is string else value|tojson }}</div>{% endif %}{% endfor %}
{% for t in r.artifact.input_spec.tensors if r.artifact.input_spec %}<div><span class="meta">input</span> <code>{{ t.name }}</code> {{ t.shape|join("x") }} {{ t.dtype }}{% if t.stored is defined and t.stored %} (the file takes {{ t.stored.dtype }}: scale {{ "%.4g"|format(t.stored.scale) }}, zero point {{ t.stored.zero_point }}){% endif %}</div>{% endfor %}
</div>{% endfor %}

<h2 id="environment">Environment</h2>
{% for t, env in environments %}<div class="card"><b>{{ t }}</b><table><tbody>
{% for k, v in env %}<tr><td class="l">{{ k }}</td><td class="l mono">{{ v }}</td></tr>{% endfor %}
</tbody></table></div>{% endfor %}
<p class="meta">Rendered by edgepress {{ version }} from the results JSON only. Settings: {{ settings_line }}.</p>
<script>{{ script }}</script>
</body></html>
"""
