import json

import pytest

import edgepress
from edgepress.errors import BadInputError
from edgepress.report.results import SCHEMA_VERSION, read_results, write_results

REQUIRED = {"artifact", "target", "latency_ms", "io_ms", "end_to_end_ms", "init_ms", "first_inference_ms", "peak_rss_bytes", "drift", "accuracy", "env", "flags", "error"}


@pytest.fixture(scope="module")
def results(onnx_artifact, torch_model):
    from edgepress.targets.base import RunSettings

    settings = RunSettings(threads=1, warmup=1, min_iters=5, min_seconds=0.0)
    return edgepress.bench(onnx_artifact, reference=torch_model, settings=settings)


def test_json_has_every_documented_field(results, tmp_path):
    path = write_results(tmp_path / "r.json", results)
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    entry = doc["results"][0]
    assert REQUIRED <= set(entry)
    assert {"path", "format", "sha256", "size_bytes", "lineage"} <= set(entry["artifact"])
    assert {"mean", "std", "p50", "p90", "p99", "min", "max", "n", "samples"} <= set(entry["latency_ms"])
    assert {"max_abs", "mean_abs", "cosine", "top1_agreement"} <= set(entry["drift"])
    assert len(entry["latency_ms"]["samples"]) == entry["latency_ms"]["n"]
    assert entry["io_ms"]["n"] >= 1 and entry["end_to_end_ms"]["p50"] == pytest.approx(entry["latency_ms"]["p50"] + entry["io_ms"]["p50"])


def test_schema_doc_names_every_field():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "results-schema.md").read_text()
    for name in REQUIRED | {"samples", "top1_agreement", "peak_rss_method", "lineage", "sha256"}:
        assert f"`{name}`" in doc, name


def test_read_back_and_version_check(results, tmp_path):
    path = write_results(tmp_path / "r.json", results)
    assert read_results(path)[0].to_dict() == results[0].to_dict()
    doc = json.loads(path.read_text())
    doc["schema_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInputError, match="schema_version 99"):
        read_results(path)


def test_version_1_files_read_their_latency_as_end_to_end(results, tmp_path):
    """Version 1 timed host arrays in and out: that is end-to-end time, never invoke-only latency."""
    path = write_results(tmp_path / "r.json", results)
    doc = json.loads(path.read_text())
    doc["schema_version"] = 1
    for cell in doc["results"]:
        cell.pop("io_ms"), cell.pop("end_to_end_ms")
    old_p50 = doc["results"][0]["latency_ms"]["p50"]
    path.write_text(json.dumps(doc))
    (read,) = read_results(path)
    assert read.latency_ms is None and read.io_ms is None and read.end_to_end_ms["p50"] == old_p50
