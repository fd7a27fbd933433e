"""INT8 ONNX side by side: edgepress against the quantizers a user would pick instead, in one run.

The same FP32 ONNX file (exported by edgepress from the PyTorch model) and the same
calibration samples go through:

- ``ort_defaults``: ONNX Runtime ``quantize_static`` as called with its defaults (QDQ,
  per-tensor, int8 activations and weights, min-max ranges);
- ``ort_per_channel``: the same with ``per_channel=True`` and uint8 activations (u8s8);
- ``nncf``: ``nncf.quantize`` with its defaults, ``subset_size`` = the sample count. NNCF
  is never an edgepress dependency: pass ``--nncf-python`` (a virtualenv with ``nncf``,
  ``onnx`` and ``onnxruntime``), else its row says "not installed";
- ``edgepress``: ``edgepress.quantize(edgepress.load(fp32), "int8", calibration=..., samples=N)``,
  the API's defaults.

Each producer runs in its own process: time to produce (the quantize call alone, imports
and file loading excluded) and that process's peak RSS. Every resulting file and the FP32
one are then timed by one bare ONNX Runtime loop (input set once, ``session.run`` timed),
interleaved in rounds (the order rotates each round), at 1 and 2 threads; a row's p50 is
the median of its rounds' p50s. Quality: top-1 agreement with the FP32 ONNX on held-out
crops (all, and the confident ones where FP32's softmax >= 0.5) for MobileNetV2; accuracy
on the held-out test split for the digits CNN.

Run: .venv/bin/python benchmarks/peers.py [--models mobilenet_v2 digits] [--samples 300] [--nncf-python PYTHON] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
PRODUCERS = ("ort_defaults", "ort_per_channel", "nncf", "edgepress")
CONFIDENT = 0.5


# --- producers: each runs in a child process (``--produce``) ---------------------------------


def _reader(x: Any, name: str) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(range(len(x)))

        def get_next(self) -> dict[str, Any] | None:
            i = next(self.it, None)
            return None if i is None else {name: x[i : i + 1]}

    return Reader()


def produce_ort(fp32: str, x: Any, out: str, per_channel: bool) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_static

    name = onnx.load(fp32, load_external_data=False).graph.input[0].name
    options = {"per_channel": True, "activation_type": QuantType.QUInt8} if per_channel else {}
    quantize_static(fp32, out, _reader(x, name), **options)


def produce_nncf(fp32: str, x: Any, out: str) -> None:
    import nncf
    import onnx

    model = onnx.load(fp32)
    name = model.graph.input[0].name
    dataset = nncf.Dataset([x[i : i + 1] for i in range(len(x))], lambda sample: {name: sample})
    onnx.save(nncf.quantize(model, dataset, subset_size=len(x)), out)


def produce_edgepress(fp32: str, x: Any, out: str) -> None:
    import shutil

    import edgepress

    made = edgepress.quantize(edgepress.load(fp32), "int8", calibration=x, samples=len(x), out_dir=Path(out).parent / "edgepress-out")
    shutil.copyfile(made.path, out)


def produce(name: str, fp32: str, calib: str, out: str) -> None:
    """Child process: quantize, then print the seconds the call took and this process's peak RSS."""
    import numpy as np

    x = np.load(calib)
    start = time.perf_counter()
    if name == "nncf":
        produce_nncf(fp32, x, out)
    elif name == "edgepress":
        produce_edgepress(fp32, x, out)
    else:
        produce_ort(fp32, x, out, per_channel=name == "ort_per_channel")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS. ``ru_maxrss`` would not do: Linux carries the parent's peak across exec."""
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    return int(kb) / 1024


# --- the parent: models, producing, timing, quality -------------------------------------------


@dataclass
class Model:
    name: str
    fp32: Path
    calib: Path
    x_eval: Any
    labels: Any  # None: judge by agreement with FP32


def mobilenet_v2(work: Path, samples: int, count: int) -> Model:
    import numpy as np
    import torch

    import edgepress

    sys.path.insert(0, str(ROOT))  # the benchmarks folder is not a package
    import mobilenet_v2 as mnv2

    x_eval = mnv2.crops(count, seed=2)
    fp32 = edgepress.convert(edgepress.from_torch(mnv2.pretrained(), torch.from_numpy(x_eval[:1]), name="mobilenet_v2"), ["onnx"], out_dir=work)[0]
    np.save(work / "mobilenet_v2_calib.npy", mnv2.crops(samples, seed=1))
    return Model("mobilenet_v2", Path(fp32.path), work / "mobilenet_v2_calib.npy", x_eval, None)


def digits(work: Path, samples: int, count: int) -> Model:
    import numpy as np
    import torch

    import edgepress
    from edgepress.digits import load_digits_split, trained_digits_cnn

    split = load_digits_split()
    fp32 = edgepress.convert(edgepress.from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name="digits_cnn"), ["onnx"], out_dir=work)[0]
    np.save(work / "digits_calib.npy", split.x_train[:samples])
    return Model("digits", Path(fp32.path), work / "digits_calib.npy", split.x_test, split.y_test)


BUILDERS = {"mobilenet_v2": mobilenet_v2, "digits": digits}


def run_producer(name: str, model: Model, work: Path, nncf_python: str | None) -> dict[str, Any]:
    out = work / f"{model.name}_{name}.onnx"
    python = nncf_python if name == "nncf" else sys.executable
    if python is None:
        return {"producer": name, "error": "not installed (pass --nncf-python)"}
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    done = subprocess.run([python, __file__, "--produce", name, str(model.fp32), str(model.calib), str(out)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"producer": name, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    return {"producer": name, "path": out, "size_bytes": out.stat().st_size, **facts}


def outputs(path: Path, x: Any) -> Any:
    """Logits of every sample, one at a time (the files take batch 1)."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


def quality(row: dict[str, Any], model: Model, fp32_logits: Any) -> None:
    import numpy as np

    top1 = outputs(row["path"], model.x_eval).argmax(-1)
    if model.labels is not None:
        row["accuracy"] = float((top1 == model.labels).mean())
        return
    ref = fp32_logits.argmax(-1)
    shifted = np.exp(fp32_logits - fp32_logits.max(-1, keepdims=True))
    confident = (shifted / shifted.sum(-1, keepdims=True)).max(-1) >= CONFIDENT
    row["agreement_all"] = float((top1 == ref).mean())
    row["agreement_confident"] = float((top1[confident] == ref[confident]).mean())
    row["confident"], row["evaluated"] = int(confident.sum()), len(ref)


def timed_rounds(paths: dict[str, Path], x: Any, threads: int, rounds: int, iters: int) -> dict[str, list[float]]:
    """p50 (ms) of ``iters`` timed ``session.run`` calls per file per round; the order rotates each round."""
    import onnxruntime as ort

    sessions = {}
    for key, path in paths.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        sessions[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {k: {s.get_inputs()[0].name: x[:1]} for k, s in sessions.items()}
    p50s: dict[str, list[float]] = {k: [] for k in paths}
    keys = list(paths)
    for r in range(rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            session, feed = sessions[key], feeds[key]
            for _ in range(max(10, iters // 10)):
                session.run(None, feed)
            times = []
            for _ in range(iters):
                start = time.perf_counter_ns()
                session.run(None, feed)
                times.append(time.perf_counter_ns() - start)
            p50s[key].append(statistics.median(times) / 1e6)
    return p50s


def bench_model(model: Model, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    rows = [run_producer(name, model, work, args.nncf_python) for name in PRODUCERS]
    made = [r for r in rows if "path" in r]
    fp32_logits = outputs(model.fp32, model.x_eval)
    for row in made:
        quality(row, model, fp32_logits)
    fp32_row = {"producer": "fp32", "path": model.fp32, "size_bytes": model.fp32.stat().st_size}
    quality(fp32_row, model, fp32_logits)
    paths = {r["producer"]: r["path"] for r in [fp32_row, *made]}
    for threads in args.threads:
        p50s = timed_rounds(paths, model.x_eval, threads, args.rounds, args.iters)
        for row in [fp32_row, *made]:
            row[f"p50_ms_{threads}t"] = statistics.median(p50s[row["producer"]])
            row[f"p50_rounds_{threads}t"] = p50s[row["producer"]]
    for row in [fp32_row, *rows]:
        row["model"] = model.name
        if "path" in row:
            row["path"] = str(Path(row["path"]).relative_to(ROOT.parent)) if Path(row["path"]).is_relative_to(ROOT.parent) else Path(row["path"]).name
    return [fp32_row, *rows]


def print_table(rows: list[dict[str, Any]], threads: list[int]) -> None:
    by_model: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_model.setdefault(r["model"], {})[r["producer"]] = r
    for name, table in by_model.items():
        fp32 = table["fp32"]
        quality_head = "accuracy %" if "accuracy" in fp32 else "agree all/confident %"
        heads = "".join(f"{f'p50 {t}t ms (x FP32)':>22}" for t in threads)
        print(f"\n{name}\n{'producer':<17}{'size MB':>9}{'produce s':>11}{'peak RSS MB':>13}{heads}  {quality_head}")
        for key, r in table.items():
            if "error" in r:
                print(f"{key:<17}  {r['error']}")
                continue
            cells = "".join(f"{r[f'p50_ms_{t}t']:>13.3f} ({r[f'p50_ms_{t}t'] / fp32[f'p50_ms_{t}t']:.2f}x)" for t in threads)
            qual = f"{100 * r['accuracy']:.1f}" if "accuracy" in r else f"{100 * r['agreement_all']:.1f} / {100 * r['agreement_confident']:.1f}"
            made = f"{r['seconds']:>11.1f}{r['peak_rss_mb']:>13.0f}" if "seconds" in r else f"{'-':>11}{'-':>13}"
            print(f"{key:<17}{r['size_bytes'] / 1e6:>9.2f}{made}{cells}  {qual}")


def cpu_facts() -> dict[str, Any]:
    from edgepress.targets.measure_worker import cpu_facts as facts

    found = facts()
    found.pop("flags", None)  # hundreds of names; the INT8 ones are kept
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BUILDERS), choices=list(BUILDERS))
    parser.add_argument("--samples", type=int, default=300, help="calibration samples, the same for every producer")
    parser.add_argument("--eval", type=int, default=500, help="held-out MobileNetV2 crops (seed 2; calibration uses seed 1)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--nncf-python", default=None, help="a Python with nncf, onnx and onnxruntime installed (kept out of edgepress's dependencies)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "peers")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "peers.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT.parent))
    from edgepress.storage import write_json_atomic

    args.out.mkdir(parents=True, exist_ok=True)
    rows = [row for name in args.models for row in bench_model(BUILDERS[name](args.out, args.samples, args.eval), args, args.out)]
    env = cpu_facts()
    print(f"CPU: {env.get('model')}; INT8 instructions: {', '.join(env.get('int8_features') or []) or 'none found'}; samples {args.samples}; median of {args.rounds} rounds")
    print_table(rows, args.threads)
    machine = {"cpu": env, "python": platform.python_version(), "samples": args.samples, "rounds": args.rounds, "iters": args.iters, "threads": args.threads}
    write_json_atomic(args.json, {"machine": machine, "rows": rows})
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--produce":
        produce(*sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
