import re

import pytest

from edgepress.report.csv import render_csv
from edgepress.report.html import render_html
from edgepress.report.markdown import md_escape, render_markdown
from edgepress.report.results import read_results
from edgepress.report.writer import write_report
from tests.report.conftest import EVIL


@pytest.fixture(scope="module")
def results(report_results):
    return read_results(report_results)


def test_html_is_self_contained(results):
    page = render_html(results)
    assert not re.search(r"<[^>]*\s(src|href)\s*=", page, re.I)  # no tag with a src or href: nothing to fetch
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert "default-src 'none'" in page
    assert page.count("<script") == 1 and "<svg" in page


def test_every_hostile_string_is_escaped(results):
    page = render_html(results)
    assert "<script>window" not in page and "<img" not in page and "<svg onload" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page


def test_report_shows_the_sections_from_json(results):
    page = render_html(results)
    for section in ("Summary: best per target", "Pareto", "Latency distribution on host-cpu", "Cross-target drift", "lineage", "Environment"):
        assert section in page
    assert "p99 ms" in page and "peak RSS" in page and "random_inputs" not in page  # labelled data given
    assert "emulated" in page and "error" in page  # the failed emulated cell's flags


def test_markdown_summary_is_inert(results):
    text = render_markdown(results)
    assert "<" not in text.replace("&lt;", "")
    assert "| host\\-cpu |" in text and "Pareto front" in text
    assert md_escape("a|b`c") == "a\\|b\\`c"


def test_csv_neutralises_formulas(results):
    rows = render_csv(results).splitlines()
    assert rows[0].startswith("label,recipe,format,target")
    assert len(rows) == 1 + len(results)
    from edgepress.results import BenchResult

    bad = BenchResult(artifact={**results[0].artifact, "path": "=HYPERLINK(1)"}, target="host-cpu", error="@SUM(A1)")
    line = render_csv([bad]).splitlines()[1]
    assert "'=HYPERLINK(1)" in line and "'@SUM(A1)" in line


def test_write_report_writes_each_file(report_results, tmp_path):
    paths = write_report([report_results], html=tmp_path / "r.html", md=tmp_path / "r.md", csv=tmp_path / "r.csv")
    assert [p.name for p in paths] == ["r.html", "r.md", "r.csv"] and all(p.stat().st_size > 100 for p in paths)
    assert EVIL not in (tmp_path / "r.html").read_text()


def test_write_report_needs_an_output(report_results):
    from edgepress.errors import BadInputError

    with pytest.raises(BadInputError, match="at least one of"):
        write_report(report_results)
