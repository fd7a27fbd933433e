"""The accuracy guard: retry quantization until the accuracy drop fits ``max_drop``.

Attempts follow what the peers' tuners try, cheapest first: the requested settings;
the other calibration methods; per-channel weights; then the layers with the lowest
per-layer SQNR (one measurement per layer, from the first attempt's sensitivity
report) kept in float, 1, 2, 4, ... of them. It stops at the first attempt that fits
and always returns the best artifact found, with ``report["guard"]`` recording every
attempt and why it stopped: never None, never a silent pass.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format
from edgepress.converters.onnx_quant import StaticOptions
from edgepress.data import EvalData
from edgepress.errors import BadInputError
from edgepress.passes import apply
from edgepress.quantization import facts

MAX_KEPT_LAYERS = 16


def guarded(p: Any, source: Artifact, out_dir: Path, data: EvalData | None, max_drop: float, relative: bool = False) -> Artifact:
    """Run ``p`` on ``source``, retrying per the module docstring; publish the best in ``out_dir``."""
    if source.format is not Format.ONNX or p.name != "quantize.int8_static":
        raise BadInputError("the accuracy guard runs on static INT8 of ONNX models; convert to ONNX first (edgepress.convert(m, ['onnx']))")
    if data is None:
        raise BadInputError("max_drop needs evaluation data: pass eval_data= (with labels) or calibration=")
    if max_drop < 0:
        raise BadInputError(f"max_drop must be >= 0, got {max_drop}")
    reference = predictions(source, data)
    base = score(reference, reference, data)
    attempts: list[dict[str, Any]] = []
    ranked: list[str] = []  # filled from the first attempt's sensitivity report
    best: list[Any] = [-1.0, p]  # score and pass; layer candidates build on the best so far
    with tempfile.TemporaryDirectory(prefix="edgepress-guard-") as tmp:
        for i, (why, candidate) in enumerate(_candidates(p, ranked, best)):
            made = apply(candidate, source, Path(tmp) / str(i))
            got = score(predictions(made, data), reference, data)
            drop = (base - got) / base if relative and base else base - got
            attempts.append({"changed": why, "options": StaticOptions.of(candidate.spec()).to_dict(), "score": round(got, 4), "drop": round(drop, 4), "fits": drop <= max_drop})
            if got > best[0]:
                best[:] = [got, candidate]
            if drop <= max_drop:
                break
            if i == 0:
                ranked.extend(r["layer"] for r in facts(made.report).get("sensitivity", []) if r["layer"])
    final = apply(best[1], source, out_dir)
    stopped = "fits" if attempts[-1]["fits"] else "exhausted: no attempt fit; returning the best found"
    record = {"metric": "accuracy" if data.labels is not None else "top-1 agreement with float", "float_score": round(base, 4),
              "max_drop": max_drop, "relative": relative, "attempts": attempts, "stopped": stopped}
    flags = [] if attempts[-1]["fits"] else ["accuracy_guard_failed"]
    return _with_record(final, source, dataclasses.replace(best[1], max_drop=max_drop, relative=relative), record, flags)


def _with_record(final: Artifact, source: Artifact, chosen: Any, record: dict[str, Any], flags: list[str]) -> Artifact:
    """The published file with the guard in its lineage, report and sidecar (``edgepress.load`` reads them back)."""
    from edgepress.passes import cache_key, describe
    from edgepress.storage import rerecord

    report = {**final.report, "guard": record, "flags": [*final.report.get("flags", []), *flags]}
    made = final.derive(lineage=(*source.lineage, describe(chosen)), report=report)
    return rerecord(made, cache_key(chosen, source))


def _candidates(p: Any, ranked: list[str], best: list[Any]) -> Iterator[tuple[str, Any]]:
    """(what changed, pass) pairs in the order tried; ``ranked`` and ``best`` are read as attempts finish."""
    yield "first attempt (as requested)", p
    from edgepress.quantization import Calibration

    for method in Calibration:
        if method is not p.calibration:
            yield f"calibration method {p.calibration.value} -> {method.value}", dataclasses.replace(p, calibration=method)
    if not p.per_channel:
        yield "per-channel weights", dataclasses.replace(best[1], per_channel=True)
    p = best[1]  # keep layers in float on top of the best calibration and granularity found
    count = 1
    while count <= min(len(ranked), MAX_KEPT_LAYERS):
        kept = ranked[:count]
        keep = ",".join((*[k for k in p.keep_float.split(",") if k], *kept))
        yield f"kept in float the {count} layer(s) with the lowest SQNR: {', '.join(kept)}", dataclasses.replace(p, keep_float=keep)
        count *= 2


def predictions(artifact: Artifact, data: EvalData) -> Any:
    """Outputs (the first, as rows) of ``artifact`` on ``data``: run in process by the host-cpu target, one sample at a time."""
    from edgepress.targets.base import resolve
    from edgepress.targets.measure_worker import run_batched

    first = run_batched(resolve("host-cpu").load(artifact), list(data.inputs), 1)[0]
    return first.reshape(len(first), -1)


def score(outputs: Any, reference: Any, data: EvalData) -> float:
    """Accuracy against labels, else top-1 agreement with the float model's outputs (``edgepress.drift``)."""
    from edgepress.drift import accuracy, top1_agreement

    got = accuracy(outputs, data.labels) if data.labels is not None else top1_agreement(outputs, reference)
    if got is None:
        raise BadInputError(f"the accuracy guard scores classifiers (rows of class scores); this model's first output has {outputs.shape[1]} value(s) per sample")
    return got
