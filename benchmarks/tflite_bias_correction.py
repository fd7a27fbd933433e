"""What bias correction does to INT8 TFLite MobileNetV2, with each choice of leading float convolutions.

The FP32 ``.tflite`` (litert-torch, the real ImageNet weights of ``mobilenet_v2.py``) is
quantized by ``edgepress.converters.tflite_quant.quantize_static`` on 300 calibration
crops at the 99.99th percentile, keeping the first 0, 1 or 2 convolutions in float, with
bias correction off and on. Each file is judged against the FP32 file on evaluation
crops drawn with another seed: top-1 agreement on all crops and on the confident ones
(FP32 softmax >= 0.5), the logits' SQNR and the mean KL divergence of the softmax.
No timing: bias correction changes bias values only, not the graph.

Run: .venv/bin/python benchmarks/tflite_bias_correction.py [--eval 1000] [--eval-seed 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

KEPT_FLOAT = {0: "nothing (leading_float=false)", 1: "stem conv", 2: "stem conv + depthwise (default)"}


def main() -> int:
    import litert_torch
    import torch

    from edgepress.converters.tflite_quant import quantize_static
    from edgepress.storage import write_json_atomic
    from mobilenet_v2 import CONFIDENT, crops, pretrained

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=int, default=1000)
    parser.add_argument("--eval-seed", type=int, default=3, help="seed of the evaluation crops (calibration uses seed 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "tflite_bias_correction")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "tflite_bias_correction.json")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    x_eval, x_calib = crops(args.eval, seed=args.eval_seed), crops(300, seed=1)
    fp32 = args.out / "mobilenet_v2.tflite"
    litert_torch.convert(pretrained(), (torch.from_numpy(x_eval[:1]),)).export(str(fp32))
    ref = _logits(fp32, x_eval)
    rows = []
    for count, kept in KEPT_FLOAT.items():
        for corrected in (False, True):
            path = args.out / f"int8_float{count}_{'bc' if corrected else 'plain'}.tflite"
            facts = quantize_static(fp32, path, (x_calib,), float_convs=count, percentile=99.99, bias_correction=corrected)
            rows.append({"kept_float": kept, "bias_correction": corrected, "layers_corrected": facts["bias_corrected"], **_scores(ref, _logits(path, x_eval), CONFIDENT)})
    print(f"{args.eval} evaluation crops (seed {args.eval_seed}), {rows[0]['confident']} confident; 300 calibration crops (seed 1)")
    print(f"{'kept float':<34}{'bias correction':>16}{'agree all %':>13}{'agree confident %':>19}{'SQNR dB':>9}{'KL':>9}")
    for r in rows:
        print(f"{r['kept_float']:<34}{'on' if r['bias_correction'] else 'off':>16}{r['agree_all']:>13.1f}{r['agree_confident']:>19.1f}{r['sqnr_db']:>9.2f}{r['kl']:>9.4f}")
    write_json_atomic(args.json, {"command": " ".join(["python", *sys.argv]), "rows": rows})
    return 0


def _logits(path: Path, x: Any) -> Any:
    """One sample at a time through LiteRT, int8 input and output (de)quantized with the file's own parameters."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    rows = []
    for sample in x:
        feed = sample[None]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            feed = np.clip(np.round(feed / scale + zero), -128, 127).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], feed)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])[0].astype(np.float64)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y - zero) * scale
        rows.append(y)
    return np.array(rows)


def _scores(ref: Any, got: Any, confident_at: float) -> dict[str, Any]:
    import numpy as np

    def log_softmax(z: Any) -> Any:
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    p_log = log_softmax(ref)
    confident = np.exp(p_log).max(-1) >= confident_at
    same = got.argmax(-1) == ref.argmax(-1)
    return {
        "confident": int(confident.sum()),
        "agree_all": 100 * float(same.mean()),
        "agree_confident": 100 * float(same[confident].mean()),
        "sqnr_db": float(10 * np.log10((ref**2).sum() / ((got - ref) ** 2).sum())),
        "kl": float((np.exp(p_log) * (p_log - log_softmax(got))).sum(-1).mean()),
    }


if __name__ == "__main__":
    raise SystemExit(main())
