"""Keras models users bring, through the real CLI: ``convert --to all``, ``quantize`` into the
same folder (the float files must survive), then ``bench`` of every artifact against the
Keras model on 8 samples. And every Keras quantization mode names its files by its mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.zoo.keras_models import KERAS_ZOO, KerasBuilt, tf_keras_qat_cnn

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 8
FP32_MAX_ABS, FP32_MIN_COSINE = 1e-3, 0.9999
# INT8 against the float model, for random-weight networks calibrated on 16 noise images. Measured:
# MobileNetV3Small (hard-swish, squeeze-excite) 0.96-0.98; EfficientNet-B0 (swish, 16 squeeze-excite
# blocks) 0.85-0.91, the same with 64 images or min-max ranges. A broken quantization lands far below.
INT8_MIN_COSINE = {"mobilenet_v3_small": 0.9, "efficientnet_b0": 0.8, "tf_keras_cnn": 0.9}
# Drift needs every sample once, not timing: the fewest timed runs bench accepts.
BENCH_FAST = ("--iters", "2", "--min-seconds", "0", "--warmup", "1", "--threads", "1", "-q")


def _edgepress(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """The installed ``edgepress`` command, as a user runs it."""
    script = Path(sys.executable).with_name("edgepress")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True, timeout=1500, cwd=cwd, env=env)


def _made(proc: subprocess.CompletedProcess) -> list[str]:
    """File names a successful ``-q`` convert / quantize printed."""
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return sorted(Path(line.strip()).name for line in proc.stdout.splitlines() if line.strip())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _onnx_inputs(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path)).graph
    constants = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in constants]


def _check_drift(rows: dict[str, dict], int8_min_cosine: float) -> None:
    for name, row in rows.items():
        assert row["error"] is None and row["drift"], (name, row["error"])
        cosine, max_abs = row["drift"]["cosine"], row["drift"]["max_abs"]
        if "_int8" in name:
            assert cosine > int8_min_cosine, (name, cosine)
        else:
            assert max_abs < FP32_MAX_ABS and cosine > FP32_MIN_COSINE, (name, max_abs, cosine)


def _outputs_vary(built: KerasBuilt, x: np.ndarray) -> float:
    """How much the model's outputs differ between samples (0: any artifact would match it)."""
    return float(np.asarray(built.model(x, training=False)).std(axis=0).max())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KERAS_ZOO))
def test_keras_model_converts_quantizes_and_matches_the_model(name: str, tmp_path: Path) -> None:
    built = KERAS_ZOO[name](tmp_path)
    stem, x = built.path.stem, built.images(SAMPLES, seed=1)
    assert _outputs_vary(built, x) > 1e-2
    np.savez(tmp_path / "d.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=built.images(16, seed=2))
    out = tmp_path / "out"

    fp32 = _made(_edgepress("convert", built.path, "--to", "all", "--out", out, "-q", cwd=tmp_path))
    assert fp32 == [f"{stem}.onnx", f"{stem}.tflite"]
    assert len(_onnx_inputs(out / f"{stem}.onnx")) == 1  # the model's one input, no layer constants as inputs
    before = {n: _sha256(out / n) for n in fp32}

    int8 = _made(_edgepress("quantize", built.path, "--data", "calib.npz", "--to", "onnx,tflite", "--out", out, "-q", cwd=tmp_path))
    assert int8 == [f"{stem}_int8.onnx", f"{stem}_int8.tflite"]
    assert {n: _sha256(out / n) for n in fp32} == before  # quantizing into the same folder kept the float files
    assert all((out / q).stat().st_size < 0.5 * (out / f).stat().st_size for f, q in zip(fp32, int8))

    artifacts = [out / n for n in (*fp32, *int8)]
    proc = _edgepress("bench", *artifacts, "--ref", built.path, "--data", "d.npz", "--json", "bench.json", *BENCH_FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {Path(r["artifact"]["path"]).name: r for r in json.loads((tmp_path / "bench.json").read_text())["results"]}
    assert sorted(rows) == sorted((*fp32, *int8))
    _check_drift(rows, INT8_MIN_COSINE[name])


@pytest.mark.slow
def test_every_keras_quantize_mode_names_its_file_and_keeps_the_float_one(tmp_path: Path) -> None:
    import edgepress

    built = tf_keras_qat_cnn(tmp_path)
    source, out = edgepress.load(built.path), tmp_path / "out"
    (fp32,) = edgepress.convert(source, ["tflite"], out_dir=out)
    before = _sha256(fp32.path)
    x, y = built.images(32, seed=3), np.random.default_rng(3).integers(0, 10, 32)
    names = {}
    for mode in ("int8", "int8_dynamic", "fp16", "int16x8"):
        handle = edgepress.quantize(source, mode, calibration=x if mode in ("int8", "int16x8") else None, out_dir=out)
        (made,) = edgepress.convert(handle, ["tflite"], out_dir=out)
        names[mode] = made.path.name
    handle = edgepress.quantize(source, "qat", calibration=(x, y), epochs=1, progress=False)
    (qat,) = edgepress.convert(handle, ["tflite"], out_dir=out)
    names["qat"] = qat.path.name
    tags = {"int8": "int8", "int8_dynamic": "int8dyn", "fp16": "fp16", "int16x8": "int16x8", "qat": "qat"}
    assert names == {mode: f"qat_cnn_{tag}.tflite" for mode, tag in tags.items()}
    assert _sha256(fp32.path) == before and sorted(p.name for p in out.glob("*.tflite")) == sorted([fp32.path.name, *names.values()])
    # The converter got the trained QAT model (int8 activations: a QUANTIZE op at the input),
    # not the float file the handle came from (which would give float activations).
    assert "QUANTIZE" in qat.report["ops"] and "QUANTIZE" not in fp32.report["ops"]


@pytest.mark.slow
def test_qat_on_a_layer_tf_mot_cannot_wrap_says_what_to_do(tmp_path: Path) -> None:
    # The trial's .h5 CNN: Conv2D(activation="relu") -> BatchNormalization, which TF-MOT cannot fold.
    built = KERAS_ZOO["tf_keras_cnn"](tmp_path)
    np.savez(tmp_path / "train.npz", x=built.images(16, seed=4), y=np.arange(16) % 10)
    proc = _edgepress("quantize", built.path, "--mode", "qat", "--data", "train.npz", "--to", "tflite", "--out", "out", cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    # Keras numbers layer names per process ('batch_normalization_1' when another model came first).
    assert re.search(r"cannot wrap layer 'batch_normalization(_\d+)?' \(BatchNormalization\)", lines[-1]), lines[-1]
    assert "mode int8" in lines[-1]
    assert not (tmp_path / "out").exists()
