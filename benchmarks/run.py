"""edgepress's host-cpu measurement against a plain onnxruntime loop, side by side.

The worker adds a process boundary and bookkeeping; this checks that its steady-state
numbers match what a user timing ONNX Runtime by hand would see. Run: make bench
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def plain_ort_p50(path: Path, x: np.ndarray, threads: int, runs: int = 2000) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    for _ in range(20):
        session.run(None, feed)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run(None, feed)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return float(np.median(samples))


def main() -> None:
    import torch

    import edgepress
    from edgepress.digits import load_digits_split, trained_digits_cnn
    from edgepress.targets.base import RunSettings

    split = load_digits_split()
    model = edgepress.from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name="digits_cnn")
    (art,) = edgepress.convert(model, ["onnx"], out_dir=ROOT / "out")
    threads = 1
    (res,) = edgepress.bench(art, data=(split.x_test, split.y_test), settings=RunSettings(threads=threads, min_iters=2000, min_seconds=2.0))
    plain = plain_ort_p50(art.path, split.x_test[:1], threads)
    row = {"model": "digits_cnn.onnx", "threads": threads, "edgepress_p50_ms": res.latency_ms.p50, "plain_ort_p50_ms": plain, "ratio": res.latency_ms.p50 / plain}
    print(f"{'model':<18}{'threads':>8}{'edgepress p50 ms':>18}{'plain ORT p50 ms':>18}{'ratio':>8}")
    print(f"{row['model']:<18}{threads:>8}{row['edgepress_p50_ms']:>18.4f}{row['plain_ort_p50_ms']:>18.4f}{row['ratio']:>8.2f}")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "measurement_overhead.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
