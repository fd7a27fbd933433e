"""FP32 vs INT8 of the same model in every format, measured on host-cpu in one run.

Models: the digits CNN (scikit-learn digits, real labelled data) at two widths: the
demo's (32 channels, 28.6k parameters) and a wider one (64 channels, 75k parameters).
Each INT8 file carries a few kilobytes that do not shrink with the weights (per-channel
scales and zero points, ExecuTorch's XNNPACK graph and named-data keys); two sizes show
where that overhead stops mattering. ``edgepress.quantize`` records one static INT8
recipe (128 calibration samples from the training split, per-channel int8 weights,
uint8 activations where the runtime has them) and ``edgepress.convert`` applies it per
format: ONNX Runtime QDQ for ONNX, ExecuTorch's XNNPACK quantizer for ``.pte``,
ai-edge-quantizer on litert-torch's float model for TFLite. Accuracy is top-1 on the
test split, measured on each artifact; latency is the host-cpu p50.

Run: .venv/bin/python benchmarks/quantization.py [--threads 1] [--widths 32 64]
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
KERAS_FORMATS = ("onnx", "tflite")  # ExecuTorch takes PyTorch programs only
MAX_SIZE_RATIO = 0.30
MAX_DROP_POINTS = 1.0


def torch_digits(split: Any, width: int) -> tuple[Any, str, int]:
    """The demo's digits CNN at ``width`` as an edgepress handle, its file stem and parameter count."""
    import torch

    import edgepress
    from edgepress.digits import trained_digits_cnn

    net = trained_digits_cnn(split, width=width)
    name = "digits_cnn" if width == 32 else f"digits_cnn_w{width}"
    return edgepress.from_torch(net, torch.from_numpy(split.x_test[:1]), name=name), name, sum(p.numel() for p in net.parameters())


def keras_digits(split: Any, width: int) -> tuple[Any, str, int]:
    """The same CNN in Keras 3 (NHWC), trained here with a fixed seed."""
    import keras

    import edgepress

    keras.utils.set_random_seed(0)

    def conv(y: Any, channels: int, stride: int = 1) -> Any:
        y = keras.layers.Conv2D(channels, 3, strides=stride, padding="same")(y)
        # PyTorch's BatchNorm momentum: Keras's 0.99 leaves the moving statistics far from
        # the trained weights after this short run (chance accuracy at inference).
        return keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(y))

    inputs = keras.Input((8, 8, 1), name="image")
    y = conv(inputs, width)
    y = keras.layers.Add()([y, conv(y, width)])
    y = keras.layers.GlobalAveragePooling2D()(conv(y, max(64, width), stride=2))
    model = keras.Model(inputs, keras.layers.Dense(10)(y))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(split.x_train.transpose(0, 2, 3, 1), split.y_train, batch_size=64, epochs=12, verbose=0)
    name = f"digits_keras_w{width}"
    return edgepress.from_keras(model, name=name), name, model.count_params()


def measure(fp32: Any, label: str, formats: tuple[str, ...], split: Any, nhwc: bool, out: Path, threads: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per format (FP32 and INT8 size, p50 latency, accuracy), and the host's environment record."""
    import edgepress
    from edgepress.targets.base import RunSettings

    def layout(x: Any) -> Any:
        return x.transpose(0, 2, 3, 1) if nhwc else x

    int8 = edgepress.quantize(fp32, "int8", calibration=(layout(split.x_train), split.y_train), samples=128)
    fp32_arts = edgepress.convert(fp32, formats, out_dir=out)
    int8_arts = edgepress.convert(int8, formats, out_dir=out)
    settings = RunSettings(threads=threads, min_iters=300, min_seconds=2.0, warmup=30)
    data = (layout(split.x_test), split.y_test)
    results = edgepress.bench([*fp32_arts, *int8_arts], target="host-cpu", reference=fp32, data=data, settings=settings)
    by_path = {r.artifact["path"]: r for r in results}
    return [_row(label, fmt, f, q, by_path) for fmt, f, q in zip(formats, fp32_arts, int8_arts)], results[0].env


def _row(model: str, fmt: str, fp32: Any, int8: Any, by_path: dict[str, Any]) -> dict[str, Any]:
    rf, rq = by_path[str(fp32.path)], by_path[str(int8.path)]
    p50 = (rf.latency_ms.p50 if rf.latency_ms else None, rq.latency_ms.p50 if rq.latency_ms else None)
    return {
        "model": model,
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
    head = f"{'model':<22}{'format':<12}{'FP32 B':>9}{'INT8 B':>9}{'size':>8}{'FP32 p50 ms':>13}{'INT8 p50 ms':>13}{'latency':>9}{'FP32 acc %':>12}{'INT8 acc %':>12}{'drop pt':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['model']:<22}{r['format']:<12}{r['fp32_bytes']:>9,}{r['int8_bytes']:>9,}{r['size_ratio']:>7.3f}x{_f(r['fp32_p50_ms'], 4):>13}{_f(r['int8_p50_ms'], 4):>13}"
            f"{_f(r['latency_ratio'], 2):>8}x{_f(100 * (r['fp32_accuracy'] or 0), 2):>12}{_f(100 * (r['int8_accuracy'] or 0), 2):>12}{_f(r['drop_points'], 2):>9}"
        )


def checks(rows: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    """The issue's done-when conditions for the digits model, each with its numbers."""
    out = []
    for r in rows:
        out.append((f"{r['model']} {r['format']} INT8 size <= {MAX_SIZE_RATIO}x FP32", r["size_ratio"] <= MAX_SIZE_RATIO, f"{r['size_ratio']:.3f}x"))
        drop = r["drop_points"]
        out.append((f"{r['model']} {r['format']} INT8 accuracy drop <= {MAX_DROP_POINTS} point", drop is not None and drop <= MAX_DROP_POINTS, f"{_f(drop, 2)} points"))
    return out


def _f(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "quantization")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "quantization.json")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64], help="digits CNN widths to measure (32: the demo's)")
    parser.add_argument("--no-keras", dest="keras", action="store_false", help="skip the Keras digits CNN")
    args = parser.parse_args()
    from edgepress.digits import load_digits_split

    split = load_digits_split()
    rows: list[dict[str, Any]] = []
    builders = [(torch_digits, "torch", FORMATS, False)] + ([(keras_digits, "keras", KERAS_FORMATS, True)] if args.keras else [])
    for width in args.widths:
        for build, framework, formats, nhwc in builders:
            fp32, _, params = build(split, width)
            measured, env = measure(fp32, f"{framework} w{width} ({params / 1000:.1f}k)", formats, split, nhwc, args.out, args.threads)
            rows += measured
    print_table(rows)
    results = checks(rows)
    for name, ok, got in results:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {got}")
    from edgepress.storage import write_json_atomic

    machine = {"env": env, "python": platform.python_version(), "threads": args.threads, "command": "python benchmarks/quantization.py", "widths": args.widths}
    write_json_atomic(args.json, {"machine": machine, "rows": rows, "checks": [{"check": n, "pass": ok, "measured": g} for n, ok, g in results]})
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
