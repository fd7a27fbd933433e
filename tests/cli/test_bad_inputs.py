"""Bad data and bad output locations, through a real ``edgepress`` process.

Each refusal must come before any work: exit 2, one line on stderr without a traceback,
and nothing written (no output folder, no results file, no hidden temp file).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = ("--iters", "3", "--min-seconds", "0", "--warmup", "0")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Linear(4, 2) exported at batch 1 the default way, its ONNX, and 8-sample data files."""
    import torch

    import edgepress

    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    pt2 = folder / "m.pt2"
    torch.export.save(torch.export.export(torch.nn.Linear(4, 2).eval(), (torch.randn(1, 4),)), pt2)
    (onnx,) = edgepress.convert(edgepress.load(pt2), ["onnx"], out_dir=folder / "onnx")
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    files = {"pt2": pt2, "onnx": onnx.path}
    for name, arrays in {
        "good": {"x": x, "y": np.array([0, 1] * 4)},
        "nan": {"x": np.where(np.arange(32).reshape(8, 4) == 13, np.nan, x).astype(np.float32)},
        "inf": {"x": np.where(np.arange(32).reshape(8, 4) == 5, np.inf, x).astype(np.float32)},
        "objects": {"x": np.array([[1.0, 2.0], "a"], dtype=object)},
        "labels_1000": {"x": x, "y": np.full(8, 1000)},
        "labels_negative": {"x": x, "y": np.array([0, 1, -1, 0, 1, 0, 1, 0])},
    }.items():
        files[name] = folder / f"{name}.npz"
        np.savez(files[name], **arrays)
    files["empty"] = folder / "empty.npz"
    files["empty"].write_bytes(b"")
    return files


def _tree(folder: Path) -> list[str]:
    """Every path under ``folder``, hidden ones included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2 with one clean ``error:`` line naming ``words``; returns that line."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("nan", ("NaN or infinite", "1 of 8 samples", "sample 3")),
        ("inf", ("NaN or infinite", "sample 1")),
        ("empty", ("empty (0 bytes)",)),
        ("objects", ("Python-object array",)),
        ("labels_negative", ("label -1",)),
    ],
)
def test_bad_data_is_refused_by_bench_and_quantize(cli, tiny, tmp_path, data, words):
    before = _tree(tmp_path)
    _refused(cli("bench", tiny["onnx"], "--data", tiny[data], "--json", "r.json", *FAST), *words)
    _refused(cli("quantize", tiny["onnx"], "--data", tiny[data], "--out", "q"), *words)
    assert _tree(tmp_path) == before  # no results file, no --out folder (quantize left an empty one)


def test_bad_data_is_refused_before_the_guard_exports_onnx(cli, tiny, tmp_path):
    # --max-drop on a PyTorch model exports ONNX into --out first; the data is checked before that
    _refused(cli("quantize", tiny["pt2"], "--data", tiny["nan"], "--max-drop", "1%", "--out", "q"), "NaN or infinite")
    _refused(cli("quantize", tiny["onnx"], "--data", tiny["good"], "--fastest", "--out", "q"), "--fastest picks among the settings that fit --max-drop")
    assert not (tmp_path / "q").exists()


def test_labels_beyond_the_classes_are_refused_with_a_reference(cli, tiny, tmp_path):
    proc = cli("bench", tiny["onnx"], "--ref", tiny["onnx"], "--data", tiny["labels_1000"], "--json", "r.json", *FAST)
    _refused(proc, "up to 1000", "2 classes")
    assert not (tmp_path / "r.json").exists()


def test_labels_beyond_the_classes_are_flagged_without_a_reference(cli, tiny, tmp_path):
    # Without --ref the classes are known only from the artifact's outputs: the cell says so.
    proc = cli("bench", tiny["onnx"], "--data", tiny["labels_1000"], "--json", "r.json", *FAST)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads((tmp_path / "r.json").read_text())["results"]
    assert "labels_out_of_range" in result["flags"] and result["accuracy"] is None
    proc = cli("bench", tiny["onnx"], "--data", tiny["good"], "--json", "ok.json", *FAST)
    (result,) = json.loads((tmp_path / "ok.json").read_text())["results"]
    assert "labels_out_of_range" not in result["flags"] and result["accuracy"] is not None


def test_a_factory_that_raises_is_one_line(cli, tmp_path):
    _refused(cli("convert", "--factory", "os:system", "--input-shape", "1x4", "--out", "o"), "'os:system' raised TypeError")
    (tmp_path / "recipe.toml").write_text('[model]\nfactory = "os:system"\ninput_shape = [1, 4]\n\n[[pass]]\nname = "convert.onnx"\n')
    # -q: without it, run prints its "loading the model" progress line before the error
    _refused(cli("run", "recipe.toml", "--out", "o", "-q"), "'os:system' raised TypeError")
    assert not (tmp_path / "o").exists()


@pytest.fixture
def occupied(tmp_path):
    """A regular file and a folder holding one file, both where outputs are asked for."""
    (tmp_path / "f").write_text("keep me\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "old.txt").write_text("keep me too\n")
    return tmp_path


def _commands(tiny, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(f'formats = ["onnx"]\ntargets = ["host-cpu"]\n\n[model]\npath = "{tiny["onnx"]}"\n\n[[recipe]]\nname = "fp32"\npasses = []\n')
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'[model]\npath = "{tiny["onnx"]}"\n\n[[pass]]\nname = "quantize.int8_dynamic"\n')
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"schema_version": 1, "results": []}))
    return {
        "convert": ("convert", tiny["pt2"], "--out"),
        "quantize": ("quantize", tiny["onnx"], "--data", tiny["good"], "--out"),
        "sweep": ("sweep", grid, "--out"),
        "run": ("run", recipe, "--out"),
        "demo": ("demo", "--out"),
        "bench": ("bench", tiny["onnx"], *FAST, "--json"),
        "report": ("report", results, "--html"),
    }


FOLDER_OUTPUTS = ("convert", "quantize", "sweep", "run", "demo")
FILE_OUTPUTS = ("bench", "report")


@pytest.mark.parametrize("command", FOLDER_OUTPUTS + FILE_OUTPUTS)
def test_output_in_the_wrong_place_is_refused_before_any_work(cli, tiny, occupied, command):
    args = _commands(tiny, occupied)[command]
    before = _tree(occupied)
    if command in FOLDER_OUTPUTS:
        _refused(cli(*args, "f"), "--out f is a file, not a folder")
        _refused(cli(*args, "f/sub"), "is a file, so no folder can be made there")
    else:
        _refused(cli(*args, "d"), "d is a folder, not a file")
        _refused(cli(*args, "f/out.txt"), "is a file, so no folder can be made there")
    assert _tree(occupied) == before and (occupied / "f").read_text() == "keep me\n"


def test_report_checks_every_output_before_writing_any(cli, tiny, occupied):
    results = occupied / "results.json"
    proc = cli("bench", tiny["onnx"], *FAST, "--json", results)
    assert proc.returncode == 0, proc.stderr
    before = _tree(occupied)
    _refused(cli("report", results, "--html", "r.html", "--md", "f/r.md"), "--md f/r.md")
    assert _tree(occupied) == before  # r.html was not written either


def test_unwritable_location_is_refused(cli, tiny, tmp_path):
    # /proc refuses new files although os.access says it may be written: the probe file tells.
    _refused(cli("bench", tiny["onnx"], *FAST, "--json", "/proc/1/r.json"), "cannot write in /proc/1")
    _refused(cli("convert", tiny["pt2"], "--out", "/proc/1/out"), "cannot write in /proc/1")


def _read_only_mount_works(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "mount", "--bind", "-o", "ro", str(tmp_path), str(tmp_path)], capture_output=True)
    return probe.returncode == 0


def test_read_only_filesystem_is_refused(tiny, tmp_path):
    """A read-only bind mount in a private mount namespace (root is not stopped by permission bits)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _read_only_mount_works(ro):
        pytest.skip("unshare -rm with a read-only bind mount is not available here")
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"schema_version": 1, "results": []}))
    edgepress = f"{sys.executable} -m edgepress"
    script = (
        f"mount --bind -o ro {ro} {ro} && cd {tmp_path} && "
        f"{edgepress} convert {tiny['pt2']} --out {ro}/out; echo rc=$?; "
        f"{edgepress} bench {tiny['onnx']} {' '.join(FAST)} --json {ro}/r.json; echo rc=$?; "
        f"{edgepress} report {results} --html {ro}/r.html; echo rc=$?"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.stdout.split() == ["rc=2"] * 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 3 and all("Read-only file system" in line for line in lines) and "Traceback" not in proc.stderr, proc.stderr
    assert _tree(ro) == []


def test_results_of_the_wrong_schema_name_the_missing_field(cli, tiny, tmp_path):
    proc = cli("bench", tiny["onnx"], *FAST, "--json", "r.json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((tmp_path / "r.json").read_text())
    del document["results"][0]["target"]
    del document["results"][0]["latency_ms"]["p50"]
    (tmp_path / "bad.json").write_text(json.dumps(document))
    _refused(cli("report", "bad.json", "--md", "r.md"), "result 0", "schema version 2", "missing 'target', 'latency_ms.p50'")
    (tmp_path / "list.json").write_text(json.dumps({"schema_version": 1, "results": {"a": 1}}))
    _refused(cli("report", "list.json", "--md", "r.md"), "'results' must be a list")
    assert not (tmp_path / "r.md").exists()
