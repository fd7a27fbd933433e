"""edgepress's invoke-only p50 against a bare native loop per runtime, side by side.

edgepress times each artifact in a worker process (``edgepress/targets/measure_worker.py``)
around the runtime's inference call alone. This checks that the worker's bookkeeping
(its Runner indirection, the sample list, the stop test) adds nothing a user timing the
runtime by hand would not see: the same artifact is timed by a loop written directly
with the runtime's public API, also in a fresh child process, with the same thread
count and the same input, prepared once in the runtime's own form.

Models: the digits CNN (scikit-learn digits; input ``split.x_test[:1]``) and MobileNetV2
with torchvision's ImageNet weights (``benchmarks/mobilenet_v2.py``; input: the first of
that script's evaluation crops, a real photo crop), each in FP32 (ONNX, TFLite,
ExecuTorch, TorchScript lite) and INT8 (the same without TorchScript lite, which has no
INT8 path). Rounds are interleaved (every artifact on both sides, then the next round)
so the machine's drift hits both sides alike; each side's p50 is the median of its
per-round p50s and ratio = edgepress / bare (target 0.95-1.05).

Run: .venv/bin/python benchmarks/measurement_overhead.py [--threads 1] [--rounds 5] [--iters 300] [--models digits,mobilenet_v2] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from edgepress.artifact import Artifact

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "measurement_overhead"
RESULTS = ROOT / "results" / "measurement_overhead.json"
MODELS = ("digits", "mobilenet_v2")
FORMATS = {"FP32": ("onnx", "tflite", "executorch", "ptl"), "INT8": ("onnx", "tflite", "executorch")}  # ptl has no INT8 path
TARGET = (0.95, 1.05)
WARMUP = 10  # uncounted runs on both sides, after one first inference
QUICK = {"rounds": 2, "iters": 20}
BARE_TIMING = "time.perf_counter_ns around the runtime's public inference call in a plain loop, inputs prepared once in its own form, in a fresh child process"


@dataclass
class Cell:
    """One artifact and what each round measured of it on both sides."""

    model: str
    precision: str
    fmt: str
    artifact: Artifact
    edgepress_ms: list[float | None] = field(default_factory=list)
    bare_ms: list[float | None] = field(default_factory=list)
    io_ms: list[float | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- the bare child process
# Runs as ``python -P this_file --bare ...`` like the worker (``python -P measure_worker.py``):
# stdlib + numpy + the runtime only, nothing from edgepress.


def bare_onnx(path: str, x: np.ndarray, threads: int) -> Callable[[], Any]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    return partial(session.run, None, {session.get_inputs()[0].name: x})


def bare_tflite(path: str, x: np.ndarray, threads: int) -> Callable[[], Any]:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    (detail,) = interpreter.get_input_details()
    if tuple(detail["shape"]) != x.shape:
        raise ValueError(f"input shape {x.shape} but the model takes {tuple(detail['shape'])}")
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind in "iu" and scale:  # an integer input: quantized once with its own scale and zero point
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
    interpreter.set_tensor(detail["index"], x.astype(dtype))
    return interpreter.invoke


def bare_executorch(path: str, x: np.ndarray, threads: int) -> Callable[[], Any]:
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    portable_lib._unsafe_reset_threadpool(threads)  # XNNPACK's pool, as the worker sets it (no public option)
    method = Runtime.get().load_program(path).load_method("forward")
    return partial(method.execute, [torch.from_numpy(x)])


def bare_ptl(path: str, x: np.ndarray, threads: int) -> Callable[[], Any]:
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter

    torch.set_num_threads(threads)
    return partial(_load_for_lite_interpreter(path), torch.from_numpy(x))


BARE = {"onnx": bare_onnx, "tflite": bare_tflite, "executorch": bare_executorch, "ptl": bare_ptl}


def bare_loop(call: Callable[[], Any], iters: int, warmup: int) -> list[int]:
    """Nanoseconds of ``iters`` calls after ``warmup`` uncounted ones."""
    for _ in range(warmup):
        call()
    samples = [0] * iters
    for i in range(iters):
        t0 = time.perf_counter_ns()
        call()
        samples[i] = time.perf_counter_ns() - t0
    return samples


def _inference_mode() -> Any:
    """The lite interpreter runs under inference_mode, entered once around the loop as a user would."""
    import torch

    return torch.inference_mode()


def bare_main(argv: list[str]) -> None:
    """The child: load, time, print one JSON line with the p50 in ms."""
    import numpy as np

    parser = argparse.ArgumentParser(prog="measurement_overhead.py --bare")
    for name, kind in (("--format", str), ("--artifact", str), ("--input", str), ("--threads", int), ("--iters", int), ("--warmup", int)):
        parser.add_argument(name, type=kind, required=True)
    args = parser.parse_args(argv)
    call = BARE[args.format](args.artifact, np.load(args.input), args.threads)
    with _inference_mode() if args.format == "ptl" else contextlib.nullcontext():
        samples = bare_loop(call, args.iters, args.warmup + 1)  # +1: the worker's first inference
    print(json.dumps({"p50_ms": statistics.median(samples) / 1e6, "iters": len(samples)}))


# ---------------------------------------------------------------- the parent: models, rounds, report


def build_digits(out: Path, quick: bool) -> tuple[Any, Any, np.ndarray, str]:
    """FP32 and INT8 handles of the digits CNN and one real test sample."""
    import torch

    import edgepress
    from edgepress.digits import load_digits_split, trained_digits_cnn

    split = load_digits_split()
    fp32 = edgepress.from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name="digits_cnn")
    int8 = edgepress.quantize(fp32, "int8", calibration=split.x_train, samples=128, out_dir=out)
    return fp32, int8, split.x_test[:1], "digits: split.x_test[:1] (one real test sample)"


def build_mobilenet_v2(out: Path, quick: bool) -> tuple[Any, Any, np.ndarray, str]:
    """FP32 and INT8 handles of MobileNetV2 (real weights) and the first evaluation crop of mobilenet_v2.py."""
    import torch

    import edgepress

    sys.path.insert(0, str(ROOT))  # the benchmarks folder is not a package
    import mobilenet_v2 as mnv2

    net = mnv2.pretrained()
    x = mnv2.crops(1, seed=2)  # seed 2: mobilenet_v2.py's evaluation crops; crop 0 is the same whatever the count
    fp32 = edgepress.from_torch(net, torch.from_numpy(x), name="mobilenet_v2")
    samples = 16 if quick else 300
    int8 = edgepress.quantize(fp32, "int8", calibration=mnv2.crops(samples, seed=1), samples=samples, out_dir=out)
    return fp32, int8, x, f"mobilenet_v2: crops(1, seed=2) from benchmarks/mobilenet_v2.py (a real photo crop, ImageNet-normalised); INT8 calibrated on {samples} crops with seed 1"


BUILDERS = {"digits": build_digits, "mobilenet_v2": build_mobilenet_v2}


def make_cells(model: str, quick: bool) -> tuple[list[Cell], Path, str]:
    """Convert one model to every format in both precisions; its cells, input file and input note."""
    import numpy as np

    import edgepress

    out = OUT / model
    fp32, int8, x, note = BUILDERS[model](out / "int8", quick)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "input.npy", np.ascontiguousarray(x, dtype=np.float32))
    cells = []
    for precision, handle in (("FP32", fp32), ("INT8", int8)):
        formats = FORMATS[precision]
        arts = edgepress.convert(handle, list(formats), out_dir=out / precision.lower())
        cells += [Cell(model, precision, fmt, art) for fmt, art in zip(formats, arts)]
    return cells, out / "input.npy", note


def time_edgepress(cell: Cell, x: np.ndarray, threads: int, iters: int) -> None:
    """One edgepress.bench call for this artifact alone; appends its invoke-only p50 (or None)."""
    import edgepress
    from edgepress.targets.base import RunSettings

    # min_seconds=0 and a far cap: exactly ``iters`` timed runs, as the bare loop does.
    settings = RunSettings(threads=threads, batch_size=1, warmup=WARMUP, min_iters=iters, min_seconds=0.0, max_seconds=600.0)
    (result,) = edgepress.bench(cell.artifact, target="host-cpu", data=x, settings=settings)
    cell.env = cell.env or result.env
    if result.error:
        cell.errors.append(f"edgepress: {result.error}")
    cell.edgepress_ms.append(result.latency_ms.p50 if result.latency_ms else None)
    cell.io_ms.append(result.io_ms.p50 if result.io_ms else None)


def time_bare(cell: Cell, inputs: Path, threads: int, iters: int) -> None:
    """The bare loop in a fresh child, started like the worker; appends its p50 (or None)."""
    args = ["--format", cell.fmt, "--artifact", str(cell.artifact.path), "--input", str(inputs), "--threads", str(threads), "--iters", str(iters), "--warmup", str(WARMUP)]
    proc = subprocess.run([sys.executable, "-P", str(Path(__file__).resolve()), "--bare", *args], capture_output=True, text=True, timeout=900)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        cell.errors.append(f"bare: exit {proc.returncode}: {(proc.stderr.strip().splitlines() or ['(no output)'])[-1]}")
        cell.bare_ms.append(None)
        return
    cell.bare_ms.append(json.loads(lines[-1])["p50_ms"])


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _repo_relative(path: Path | None) -> str:
    """The artifact's path from the repository root: the results file names no machine's folders."""
    if path is None:
        return ""
    try:
        return str(Path(path).resolve().relative_to(ROOT.parent))
    except ValueError:
        return Path(path).name


def row(cell: Cell, threads: int) -> dict[str, Any]:
    ours, bare = median(cell.edgepress_ms), median(cell.bare_ms)
    ratio = ours / bare if ours and bare else None
    paired = [a / b for a, b in zip(cell.edgepress_ms, cell.bare_ms) if a and b]
    return {
        "model": cell.model, "precision": cell.precision, "format": cell.fmt, "threads": threads, "artifact": _repo_relative(cell.artifact.path),
        "edgepress_p50_ms": ours, "bare_p50_ms": bare, "ratio": ratio, "within_target": ratio is not None and TARGET[0] <= ratio <= TARGET[1],
        "paired_ratio_median": statistics.median(paired) if paired else None,  # per-round ratios: robust to drift between rounds
        "edgepress_p50_rounds_ms": cell.edgepress_ms, "bare_p50_rounds_ms": cell.bare_ms,
        "edgepress_io_p50_ms": median(cell.io_ms), "runtime": cell.env.get("runtime"), "runtime_version": cell.env.get("runtime_version"),
        "errors": sorted(set(cell.errors)),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'model':<14}{'precision':<11}{'format':<12}{'threads':>8}{'edgepress p50 ms':>18}{'bare p50 ms':>13}{'ratio':>8}  within {TARGET[0]}-{TARGET[1]}"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}"
        print(f"{r['model']:<14}{r['precision']:<11}{r['format']:<12}{r['threads']:>8}{_f(r['edgepress_p50_ms']):>18}{_f(r['bare_p50_ms']):>13}{ratio:>8}  {'yes' if r['within_target'] else 'no'}  {'; '.join(r['errors'])}")


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; each side's p50 is the median over rounds")
    parser.add_argument("--iters", type=int, default=300, help="timed runs per round on each side")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK['rounds']} rounds of {QUICK['iters']} runs, a small MobileNetV2 calibration set")
    args = parser.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(args.models) - set(MODELS)
    if unknown:
        parser.error(f"unknown model(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODELS)}")
    if args.quick:
        args.rounds, args.iters = QUICK["rounds"], QUICK["iters"]
    return args


def run_rounds(cells: list[Cell], inputs: dict[str, Path], args: argparse.Namespace) -> None:
    """Every artifact on both sides, round after round, so slow drift hits both alike."""
    import numpy as np

    arrays = {model: np.load(path) for model, path in inputs.items()}
    for index in range(args.rounds):
        print(f"round {index + 1}/{args.rounds}", flush=True)
        for cell in cells:  # edgepress, then the bare loop, artifact after artifact
            time_edgepress(cell, arrays[cell.model], args.threads, args.iters)
            time_bare(cell, inputs[cell.model], args.threads, args.iters)


def write_results(args: argparse.Namespace, cells: list[Cell], rows: list[dict[str, Any]], notes: dict[str, str]) -> None:
    from edgepress.storage import write_json_atomic

    env = next((c.env for c in cells if c.env.get("cpu")), {})
    cpu = env.get("cpu", {})
    write_json_atomic(RESULTS, {
        "command": shlex.join(["python", *sys.argv]),
        "machine": {"cpu_model": cpu.get("model"), "int8_features": cpu.get("int8_features"), "logical_cores": cpu.get("logical_cores"), "os": env.get("os"), "python": env.get("python"), "edgepress": env.get("edgepress")},
        "threads": args.threads, "rounds": args.rounds, "iters": args.iters, "warmup": WARMUP, "quick": args.quick, "target_ratio": list(TARGET),
        "inputs": notes,
        "timing": {"edgepress": env.get("timing"), "bare": BARE_TIMING, "p50": "median over rounds of each side's per-round p50; ratio = edgepress / bare"},
        "rows": rows,
    })
    print(f"wrote {RESULTS.relative_to(ROOT.parent)}")


def main() -> None:
    if sys.argv[1:2] == ["--bare"]:  # the child side: must not import edgepress
        bare_main(sys.argv[2:])
        return
    args = parse_args()
    cells: list[Cell] = []
    inputs: dict[str, Path] = {}
    notes: dict[str, str] = {}
    for model in args.models:
        made, inputs[model], notes[model] = make_cells(model, args.quick)
        cells += made
    run_rounds(cells, inputs, args)
    rows = [row(cell, args.threads) for cell in cells]
    print_table(rows)
    write_results(args, cells, rows, notes)


if __name__ == "__main__":
    main()
