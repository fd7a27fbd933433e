"""FP32 vs INT8 of the same model in every format, measured on host-cpu in one run.

Model: the digits CNN (scikit-learn digits, real labelled data). ``edgepress.quantize``
records one static INT8 recipe (128 calibration samples from the training split,
min-max, per-channel int8 weights, uint8 activations where the runtime has them) and
``edgepress.convert`` applies it per format: ONNX Runtime QDQ for ONNX, ExecuTorch's
XNNPACK quantizer for ``.pte``, ai-edge-quantizer on litert-torch's float model for
TFLite. Accuracy is top-1 on the test split, measured on each artifact; latency is the
host-cpu p50.

Run: .venv/bin/python benchmarks/quantization.py [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

FORMATS = ("onnx", "tflite", "executorch")
MAX_SIZE_RATIO = 0.30
MAX_DROP_POINTS = 1.0


def measure(out: Path, threads: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per format (FP32 and INT8 size, p50 latency, accuracy), and the host's environment record."""
    import torch

    import edgepress
    from edgepress.demo import load_digits_split, trained_digits_cnn
    from edgepress.targets.base import RunSettings

    split = load_digits_split()
    fp32 = edgepress.from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name="digits_cnn")
    int8 = edgepress.quantize(fp32, "int8", calibration=(split.x_train, split.y_train), samples=128)
    fp32_arts = edgepress.convert(fp32, FORMATS, out_dir=out)
    int8_arts = edgepress.convert(int8, FORMATS, out_dir=out)
    settings = RunSettings(threads=threads, min_iters=300, min_seconds=2.0, warmup=30)
    data = (split.x_test, split.y_test)
    results = edgepress.bench([*fp32_arts, *int8_arts], target="host-cpu", reference=fp32, data=data, settings=settings)
    by_path = {r.artifact["path"]: r for r in results}
    return [_row(fmt, f, q, by_path) for fmt, f, q in zip(FORMATS, fp32_arts, int8_arts)], results[0].env


def _row(fmt: str, fp32: Any, int8: Any, by_path: dict[str, Any]) -> dict[str, Any]:
    rf, rq = by_path[str(fp32.path)], by_path[str(int8.path)]
    p50 = (rf.latency_ms.p50 if rf.latency_ms else None, rq.latency_ms.p50 if rq.latency_ms else None)
    return {
        "format": fmt,
        "fp32_bytes": fp32.size_bytes,
        "int8_bytes": int8.size_bytes,
        "size_ratio": int8.size_bytes / fp32.size_bytes,
        "fp32_p50_ms": p50[0],
        "int8_p50_ms": p50[1],
        "latency_ratio": p50[1] / p50[0] if None not in p50 else None,
        "fp32_accuracy": rf.accuracy,
        "int8_accuracy": rq.accuracy,
        "drop_points": 100 * (rf.accuracy - rq.accuracy) if None not in (rf.accuracy, rq.accuracy) else None,
        "int8_quantizer": int8.report.get("quantization", {}).get("quantizer"),
        "errors": [r.error for r in (rf, rq) if r.error],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'format':<12}{'FP32 B':>9}{'INT8 B':>9}{'size':>8}{'FP32 p50 ms':>13}{'INT8 p50 ms':>13}{'latency':>9}{'FP32 acc %':>12}{'INT8 acc %':>12}{'drop pt':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['format']:<12}{r['fp32_bytes']:>9,}{r['int8_bytes']:>9,}{r['size_ratio']:>7.3f}x{_f(r['fp32_p50_ms'], 4):>13}{_f(r['int8_p50_ms'], 4):>13}"
            f"{_f(r['latency_ratio'], 2):>8}x{_f(100 * (r['fp32_accuracy'] or 0), 2):>12}{_f(100 * (r['int8_accuracy'] or 0), 2):>12}{_f(r['drop_points'], 2):>9}"
        )


def checks(rows: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    """The issue's done-when conditions for the digits model, each with its numbers."""
    out = []
    for r in rows:
        out.append((f"{r['format']} INT8 size <= {MAX_SIZE_RATIO}x FP32", r["size_ratio"] <= MAX_SIZE_RATIO, f"{r['size_ratio']:.3f}x"))
        drop = r["drop_points"]
        out.append((f"{r['format']} INT8 accuracy drop <= {MAX_DROP_POINTS} point", drop is not None and drop <= MAX_DROP_POINTS, f"{_f(drop, 2)} points"))
    return out


def _f(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "quantization")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "quantization.json")
    args = parser.parse_args()
    rows, env = measure(args.out, args.threads)
    print_table(rows)
    results = checks(rows)
    for name, ok, got in results:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {got}")
    from edgepress.storage import write_json_atomic

    machine = {"env": env, "python": platform.python_version(), "threads": args.threads, "command": "python benchmarks/quantization.py"}
    write_json_atomic(args.json, {"machine": machine, "rows": rows, "checks": [{"check": n, "pass": ok, "measured": g} for n, ok, g in results]})
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
