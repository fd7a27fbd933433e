"""Every command's success and error paths, through a real ``edgepress`` process."""

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

HEAVY = ("torch", "onnxruntime", "onnx", "tensorflow", "executorch", "ai_edge_litert", "numpy")


def _one_error_line(proc):
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    return lines[0]


def test_help_imports_no_heavy_framework():
    code = (
        "import sys\nfrom edgepress.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "convert" in proc.stdout and proc.stdout.strip().splitlines()[-1] == "HEAVY="


def test_version(cli):
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == "edgepress 0.1.0"


def test_convert_then_bench_with_reference(cli, pt2_path, tmp_path, eval_npz):
    out = tmp_path / "out"
    proc = cli("convert", pt2_path, "--to", "onnx", "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    onnx_file = out / "resnet_tiny.onnx"
    assert proc.stdout.strip() == str(onnx_file)
    results = tmp_path / "r.json"
    proc = cli("bench", onnx_file, "--target", "host-cpu", "--ref", pt2_path, "--data", eval_npz, "--json", results, "--iters", "5", "--min-seconds", "0")
    assert proc.returncode == 0, proc.stderr
    assert "resnet_tiny.onnx" in proc.stdout and "host-cpu" in proc.stdout
    (result,) = json.loads(results.read_text())["results"]
    assert result["drift"]["max_abs"] < 1e-4 and result["error"] is None
    for key in ("init_ms", "first_inference_ms", "peak_rss_bytes", "accuracy"):
        assert result[key] is not None, key
    assert result["artifact"]["lineage"] == ["convert.pt2()", "convert.onnx(opset=18, dynamic_batch=True)"]


def test_bench_json_to_stdout(cli, onnx_artifact):
    proc = cli("bench", onnx_artifact.path, "--json", "-", "--iters", "3", "--min-seconds", "0")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["results"][0]["flags"][0] == "random_inputs"


def test_convert_with_factory_and_weights(cli, tmp_path):
    import torch

    from tests.models import residual_net

    weights = tmp_path / "w.pt"
    torch.save(residual_net().state_dict(), weights)
    proc = cli("convert", "--factory", "tests.models:make_residual_net", "--weights", weights, "--input-shape", "1x3x16x16", "--to", "pt2", "--out", tmp_path / "o", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "make_residual_net.pt2").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("convert", "missing.pt2"), "does not exist"),
        (("convert", "{pt2}", "--to", "onx"), "did you mean 'onnx'"),
        (("convert", "{fake_onnx}"), "is not an ONNX protobuf"),
        (("convert", "{pt2}", "--factory", "a.b:c", "--input-shape", "1x3"), "not both"),
        (("convert", "--factory", "a.b:c"), "--input-shape"),
        (("convert", "{pt2}", "--input-shape", "1xAx3"), "--input-shape must look like"),
        (("bench", "{onnx}", "--data", "{bad_data}"), "expects samples shaped"),
        (("bench", "{onnx}", "--target", "host-cpy"), "did you mean 'host-cpu'"),
        (("bench", "{onnx}", "--iters", "0"), "at least 1"),
        (("bench", "missing.onnx"), "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, args, message, tmp_path, pt2_path, onnx_artifact):
    fake_onnx = tmp_path / "fake.onnx"
    fake_onnx.write_text("hello")
    bad_data = tmp_path / "bad.npz"
    np.savez(bad_data, x=np.zeros((2, 16, 16, 3), np.float32))
    names = {"pt2": pt2_path, "fake_onnx": fake_onnx, "onnx": onnx_artifact.path, "bad_data": bad_data}
    proc = cli(*(a.format(**names) for a in args))
    assert proc.returncode == 2, proc.stderr
    assert message in _one_error_line(proc)


def test_bad_input_leaves_existing_results_intact(cli, onnx_artifact, tmp_path):
    results = tmp_path / "keep.json"
    results.write_text('{"precious": true}')
    proc = cli("bench", onnx_artifact.path, "--target", "nowhere", "--json", results)
    assert proc.returncode == 2
    assert json.loads(results.read_text()) == {"precious": True}


def test_failed_cell_exits_1_but_writes_results(cli, onnx_artifact, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0\0\0\0TFL3" + b"\0" * 64)  # right magic, broken body
    results = tmp_path / "r.json"
    proc = cli("bench", onnx_artifact.path, model, "--json", results, "--iters", "3", "--min-seconds", "0")
    if proc.returncode == 2:  # without a TFLite runtime the file cannot even be read
        assert "not installed" in proc.stderr or "damaged" in proc.stderr
        return
    assert proc.returncode == 1
    doc = json.loads(results.read_text())
    assert [r["error"] is None for r in doc["results"]] == [True, False]


def test_unknown_command_suggests(cli):
    proc = cli("bech")
    assert proc.returncode == 2 and "bench" in proc.stderr


def test_convert_all_then_bench_the_folder(cli, pt2_path, tmp_path):
    out = tmp_path / "all"
    proc = cli("convert", pt2_path, "--to", "all", "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    made = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert made == ["resnet_tiny.onnx", "resnet_tiny.pte", "resnet_tiny.ptl", "resnet_tiny.tflite"]
    proc = cli("bench", *sorted(p for p in out.iterdir() if not p.name.startswith(".")), "--ref", pt2_path, "--iters", "3", "--min-seconds", "0", "--json", tmp_path / "r.json")
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert proc.returncode == 0, proc.stderr
    assert len(results) == 4 and all(r["drift"]["max_abs"] < 1e-4 for r in results)


def test_passes_and_targets_list_the_registry(cli):
    passes = cli("passes")
    assert passes.returncode == 0 and "convert.onnx" in passes.stdout and "convert.pt2" in passes.stdout
    targets = cli("targets")
    assert targets.returncode == 0 and "host-cpu" in targets.stdout and "available" in targets.stdout


@pytest.mark.slow
def test_demo_trains_converts_and_measures(cli, tmp_path):
    proc = cli("demo", "--out", tmp_path / "demo", timeout=900)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "demo" / "results.json").read_text())
    host = {Path(r["artifact"]["path"]).name: r for r in doc["results"] if r["target"] == "host-cpu"}
    fp32 = {f"digits_cnn.{ext}" for ext in ("pt2", "onnx", "tflite", "pte", "ptl")}
    assert set(host) == fp32 | {"digits_cnn_int8.tflite"}
    for name, result in host.items():
        assert result["error"] is None and result["accuracy"] > 0.9, name
        assert name not in fp32 or result["drift"]["max_abs"] < 1e-4, name
    assert host["digits_cnn_int8.tflite"]["artifact"]["size_bytes"] < 0.2 * host["digits_cnn.tflite"]["artifact"]["size_bytes"]
    assert "digits_cnn.onnx" in proc.stdout and (tmp_path / "demo" / "report.html").exists()
