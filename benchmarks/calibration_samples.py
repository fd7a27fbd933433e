"""How many calibration samples static INT8 needs: MobileNetV2 ONNX agreement against the sample count.

The FP32 ONNX is edgepress's export of MobileNetV2 (real weights, see ``mobilenet_v2.py``);
each count takes the first N calibration crops (seed 1) and ``edgepress.quantize``'s
defaults. Agreement is top-1 against the FP32 file on two held-out 500-crop sets (seeds 2
and 3), on all crops and on the confident ones (FP32 softmax >= 0.5). The time is the
quantize call's. ``edgepress.data.DEFAULT_CALIBRATION_SAMPLES`` was chosen from this curve.

Run: .venv/bin/python benchmarks/calibration_samples.py [--counts 32 64 128 256 300 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))  # the benchmarks folder is not a package

CONFIDENT = 0.5


def logits(path: Path, x: Any) -> Any:
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


def agreement(path: Path, x: Any, ref: Any) -> dict[str, Any]:
    import numpy as np

    top1, want = logits(path, x).argmax(-1), ref.argmax(-1)
    shifted = np.exp(ref - ref.max(-1, keepdims=True))
    confident = (shifted / shifted.sum(-1, keepdims=True)).max(-1) >= CONFIDENT
    return {"all": float((top1 == want).mean()), "confident": float((top1[confident] == want[confident]).mean()), "confident_crops": int(confident.sum())}


def main() -> int:
    import torch

    import edgepress
    import mobilenet_v2 as mnv2
    from edgepress.storage import write_json_atomic
    from edgepress.targets.measure_worker import cpu_facts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[32, 64, 128, 256, 300, 512])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "calibration_samples")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "calibration_samples.json")
    args = parser.parse_args()

    evals = {seed: mnv2.crops(500, seed=seed) for seed in (2, 3)}
    fp32 = edgepress.convert(edgepress.from_torch(mnv2.pretrained(), torch.from_numpy(evals[2][:1]), name="mobilenet_v2"), ["onnx"], out_dir=args.out)[0]
    refs = {seed: logits(Path(fp32.path), x) for seed, x in evals.items()}
    calib = mnv2.crops(max(args.counts), seed=1)  # crops(n) is the first n of crops(m) for m > n
    rows = []
    print(f"{'samples':>8}{'seconds':>9}   agreement all / confident %, seed 2   seed 3")
    for count in args.counts:
        start = time.perf_counter()
        made = edgepress.quantize(fp32, "int8", calibration=calib[:count], samples=count, out_dir=args.out / f"n{count}")
        row = {"samples": count, "seconds": time.perf_counter() - start}
        row |= {f"seed{seed}": agreement(Path(made.path), x, refs[seed]) for seed, x in evals.items()}
        rows.append(row)
        cells = "   ".join(f"{100 * row[f'seed{s}']['all']:5.1f} / {100 * row[f'seed{s}']['confident']:5.1f}" for s in evals)
        print(f"{count:>8}{row['seconds']:>9.1f}   {cells}")
    env = cpu_facts()
    env.pop("flags", None)
    write_json_atomic(args.json, {"machine": {"cpu": env}, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
