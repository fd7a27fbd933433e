"""Pruning and distillation on the digits CNN: what each pass buys in size, speed and accuracy.

Rows: dense; 50% unstructured (one shot); 80% unstructured (pruned gradually over 8
fine-tuning epochs); 2:4; 50% channels; 50% channels + distillation;
50% channels + distillation + INT8 and 80% unstructured + INT8 (when a ``quantize.*``
pass is registered). Every
model is converted to ONNX and TFLite; sizes are the TFLite files (plain and gzip -9),
latency is the host-cpu p50 of the ONNX file (ONNX Runtime, 1 thread) and of the TFLite
file (LiteRT), accuracy is top-1 on the digits test split, measured on the ONNX file.

Run: .venv/bin/python benchmarks/pruning.py [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

NA_INT8 = "n/a (needs INT8 quantization)"


def build_rows(epochs: int) -> list[tuple[str, Any]]:
    """(label, in-memory model) for every pass the table compares."""
    import torch

    import edgepress
    from edgepress.digits import load_digits_split, trained_digits_cnn

    split = load_digits_split()
    dense = edgepress.from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name="digits_cnn")
    channels = edgepress.prune(dense, "channels", ratio=0.5, round_to=8)
    distilled = edgepress.distill(
        teacher=dense, student=channels, data=(split.x_train, split.y_train), epochs=epochs, patience=8, progress=True
    )
    return [
        ("dense", dense),
        ("50% unstructured", edgepress.prune(dense, "magnitude", sparsity=0.5)),
        ("80% unstructured + fine-tune", edgepress.prune(dense, "magnitude", sparsity=0.8, epochs=8, data="digits")),
        ("2:4", edgepress.prune(dense, "n_m", n=2, m=4)),
        ("50% channels", channels),
        ("50% channels + distill", distilled),
    ]


def measure(label: str, model: Any, out: Path, data: tuple[Any, Any]) -> dict[str, Any]:
    """Convert one model to ONNX and TFLite and measure both on host-cpu."""
    import edgepress
    from edgepress.stats import gzip_size, model_stats
    from edgepress.targets.base import RunSettings

    folder = out / label.replace("%", "pct").replace(" + ", "_").replace(" ", "_").replace(":", "of")
    onnx_art, tflite_art = edgepress.convert(model, ["onnx", "tflite"], out_dir=folder)
    settings = RunSettings(threads=1, min_iters=500, min_seconds=2.0, warmup=50)
    onnx_res, tflite_res = edgepress.bench([onnx_art, tflite_art], target="host-cpu", data=data, settings=settings)
    stats = model.report.get("stats") or model_stats(model)
    return {
        "pass": label,
        "params": stats["params"],
        "nonzero_params": stats["nonzero_params"],
        "macs": stats["macs"],
        "sparsity": stats["sparsity"],
        "tflite_bytes": tflite_art.size_bytes,
        "tflite_gzip_bytes": gzip_size(tflite_art.files),
        "onnx_bytes": onnx_art.size_bytes,
        "onnx_p50_ms": _p50(onnx_res),
        "tflite_p50_ms": _p50(tflite_res),
        "accuracy": onnx_res.accuracy,
        "errors": [r.error for r in (onnx_res, tflite_res) if r.error],
    }


def int8_rows(models: dict[str, Any], out: Path, data: tuple[Any, Any], calibration: Any) -> list[dict[str, Any]]:
    """INT8 versions of the distilled and the 80% sparse models, if a quantize pass exists."""
    import edgepress
    from edgepress.passes import registry

    labels = ("50% channels + distill + INT8", "80% unstructured + INT8")
    if not any(n.startswith("quantize.") for n in registry()):
        return [{"pass": label, "na": NA_INT8} for label in labels]
    sources = (models["50% channels + distill"], models["80% unstructured + fine-tune"])
    return [
        measure(label, edgepress.quantize(model, "int8", calibration=calibration, out_dir=out / "int8"), out, data)
        for label, model in zip(labels, sources)
    ]


def _p50(result: Any) -> float | None:
    return None if result.latency_ms is None else result.latency_ms.p50


def print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'pass':<32}{'params':>9}{'nonzero':>9}{'MACs':>10}{'tflite B':>10}{'gzip B':>9}{'onnx p50 ms':>13}{'tflite p50 ms':>15}{'acc %':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "na" in r:
            print(f"{r['pass']:<32}{r['na']:>60}")
            continue
        print(
            f"{r['pass']:<32}{r['params']:>9,}{r['nonzero_params']:>9,}{r['macs']:>10,}{r['tflite_bytes']:>10,}{r['tflite_gzip_bytes']:>9,}"
            f"{_ms(r['onnx_p50_ms']):>13}{_ms(r['tflite_p50_ms']):>15}{100 * (r['accuracy'] or 0):>8.2f}"
        )


def checks(rows: list[dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    """The issue's done-when conditions, each with the measured numbers."""
    by = {r["pass"]: r for r in rows}
    dense, small = by["dense"], by["50% channels + distill"]
    out = [
        ("channels+distill params <= 0.35x dense", small["params"] <= 0.35 * dense["params"], f"{small['params'] / dense['params']:.3f}x"),
        (
            "channels+distill host-cpu latency < dense (ONNX Runtime p50)",
            small["onnx_p50_ms"] < dense["onnx_p50_ms"],
            f"{small['onnx_p50_ms']:.4f} ms vs {dense['onnx_p50_ms']:.4f} ms",
        ),
        (
            "channels+distill accuracy drop <= 1.0 point",
            100 * (dense["accuracy"] - small["accuracy"]) <= 1.0,
            f"{100 * dense['accuracy']:.2f}% -> {100 * small['accuracy']:.2f}%",
        ),
    ]
    for label, key, limit, name in (
        ("50% channels + distill + INT8", "tflite_bytes", 0.12, "channels+distill+INT8 TFLite <= 0.12x dense FP32 TFLite"),
        ("80% unstructured + INT8", "tflite_gzip_bytes", 0.15, "80% unstructured + INT8 TFLite gzip <= 0.15x dense FP32 TFLite"),
    ):
        row = by.get(label, {})
        if key in row:
            ratio = row[key] / dense["tflite_bytes"]
            out.append((name, ratio <= limit, f"{ratio:.3f}x"))
        else:
            out.append((name, None, NA_INT8))
    fp32 = by["80% unstructured + fine-tune"]["tflite_gzip_bytes"] / dense["tflite_bytes"]
    out.append(("(for reference) 80% unstructured FP32 TFLite gzip / dense FP32 TFLite", None, f"{fp32:.3f}x"))
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30, help="most distillation epochs (early stopping may end sooner)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "pruning")
    args = parser.parse_args()

    from edgepress.digits import load_digits_split

    split = load_digits_split()
    data = (split.x_test, split.y_test)
    models = build_rows(args.epochs)
    rows = [measure(label, model, args.out, data) for label, model in models]
    rows += int8_rows(dict(models), args.out, data, calibration=split.x_train[:256])
    print_table(rows)
    print("\nunstructured and 2:4 zeros shrink the gzip size only: dense kernels do not run faster on zeros.\n")
    results = checks(rows)
    for name, ok, detail in results:
        mark = "n/a " if ok is None else ("PASS" if ok else "FAIL")
        print(f"[{mark}] {name}: {detail}")
    (ROOT / "results").mkdir(exist_ok=True)
    record = {"rows": rows, "checks": [{"check": n, "pass": ok, "detail": d} for n, ok, d in results]}
    (ROOT / "results" / "pruning.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
