"""The accuracy guard: retry quantization until the accuracy drop fits ``max_drop``.

Attempts follow what the peers' tuners try, cheapest first: the requested settings;
the other calibration methods; per-channel weights; then the layers with the lowest
per-layer SQNR (one measurement per layer, from the first attempt's sensitivity
report) kept in float, 1, 2, 4, ... of them. It stops at the first attempt that fits
and always returns the best artifact found, with ``report["guard"]`` recording every
attempt and why it stopped: never None, never a silent pass.

With ``fastest``, the attempt that fits is not the end: the accuracy measures that cost
speed on some CPUs (float leading convolutions, 7-bit input-layer weights) are dropped one
at a time and together, each variant is scored, and every variant that still fits is
timed on this host with ``edgepress.bench`` (invoke-only p50, median of interleaved
rounds). The fastest one is kept if it beats the most accurate one that fits by
``SPEED_MARGIN``, else the most accurate; ``report["guard"]["speed"]`` says which and why,
with the CPU's int8 features, since the winner depends on them (VNNI/AMX against AVX2 only).
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


def guarded(p: Any, source: Artifact, out_dir: Path, data: EvalData | None, max_drop: float, relative: bool = False,
            fastest: bool = False) -> Artifact:
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
    speed: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgepress-guard-") as tmp:

        def attempt(why: str, candidate: Any) -> Artifact:
            made = apply(candidate, source, Path(tmp) / str(len(attempts)))
            got = score(predictions(made, data), reference, data)
            drop = (base - got) / base if relative and base else base - got
            attempts.append({"changed": why, "options": StaticOptions.of(candidate.spec()).to_dict(), "score": round(got, 4), "drop": round(drop, 4), "fits": drop <= max_drop})
            return made

        for i, (why, candidate) in enumerate(_candidates(p, ranked, best)):
            made = attempt(why, candidate)
            if attempts[-1]["score"] > best[0]:
                best[:] = [attempts[-1]["score"], candidate]
            if attempts[-1]["fits"]:
                break
            if i == 0:
                ranked.extend(r["layer"] for r in facts(made.report).get("sensitivity", []) if r["layer"])
        fits = attempts[-1]["fits"]
        if fastest and fits:
            best[1], speed = _fastest(best[1], made, attempt, attempts, data)
    final = apply(best[1], source, out_dir)
    stopped = "fits" if fits else "exhausted: no attempt fit; returning the best found"
    record = {"metric": "accuracy" if data.labels is not None else "top-1 agreement with float", "float_score": round(base, 4),
              "max_drop": max_drop, "relative": relative, "attempts": attempts, "stopped": stopped, **({"speed": speed} if speed else {})}
    flags = [] if fits else ["accuracy_guard_failed"]
    return _with_record(final, source, dataclasses.replace(best[1], max_drop=max_drop, relative=relative), record, flags)


SPEED_ROUNDS = 3  # interleaved bench rounds per timed variant (median of their p50s)
# A faster setting must win by this much over the most accurate one that fits: on a shared
# 2-core machine the median of 3 rounds still moves by a few percent between runs.
SPEED_MARGIN = 0.03
SPEED_MEASURES = (("leading_float", "leading convolutions quantized too (leading_float off)"),
                  ("input_layers_7bit", "8-bit weights on input layers (input_layers_7bit off)"))


def _fastest(chosen: Any, made: Artifact, attempt: Any, attempts: list[dict[str, Any]], data: EvalData) -> tuple[Any, dict[str, Any]]:
    """The fastest on this host of ``chosen`` (``made``) and those of its speed variants that still fit."""
    import itertools

    from edgepress.targets.measure_worker import cpu_facts

    fitting = [(len(attempts) - 1, chosen, made)]
    seen = {made.sha256: attempts[-1]["changed"]}
    on = [(name, why) for name, why in SPEED_MEASURES if getattr(chosen, name)]
    for combo in (c for k in range(1, len(on) + 1) for c in itertools.combinations(on, k)):
        variant = dataclasses.replace(chosen, **{name: False for name, _ in combo})
        built = attempt("; ".join(why for _, why in combo), variant)
        same = seen.setdefault(built.sha256, attempts[-1]["changed"])
        if same != attempts[-1]["changed"]:  # the measure changed nothing in this model (e.g. no int8 layer reads the input)
            attempts[-1]["same_file_as"] = same
        elif attempts[-1]["fits"]:
            fitting.append((len(attempts) - 1, variant, built))
    record = {"timed": [attempts[index]["changed"] for index, _, _ in fitting], "rounds": 0, "target": "host-cpu",
              "int8_features": cpu_facts().get("int8_features", [])}
    if len(fitting) == 1:
        return chosen, {**record, "chosen": record["timed"][0], "why": "no other setting fits: nothing to time"}
    p50s = _timed([built for _, _, built in fitting], data)
    for (index, _, _), p50 in zip(fitting, p50s):
        attempts[index]["p50_ms"] = round(p50, 4)
    accurate = max(range(len(fitting)), key=lambda k: (attempts[fitting[k][0]]["score"], -k))
    winner = min(range(len(fitting)), key=lambda k: p50s[k])
    if p50s[winner] > (1.0 - SPEED_MARGIN) * p50s[accurate]:
        winner, why = accurate, f"no setting that fits was {SPEED_MARGIN:.0%} faster than the most accurate one: kept it"
    else:
        why = f"{1.0 - p50s[winner] / p50s[accurate]:.1%} faster than the most accurate setting that fits"
    return fitting[winner][1], {**record, "rounds": SPEED_ROUNDS, "chosen": attempts[fitting[winner][0]]["changed"], "why": why}


def _timed(artifacts: list[Artifact], data: EvalData) -> list[float]:
    """Invoke-only p50 (ms) of each artifact on host-cpu: the median of ``SPEED_ROUNDS`` rounds, the order reversed every other round."""
    import statistics

    from edgepress.measure import bench

    sample = dataclasses.replace(data, inputs=tuple(x[:1] for x in data.inputs), labels=None)
    rounds: list[list[float]] = [[] for _ in artifacts]
    for r in range(SPEED_ROUNDS):
        order = list(range(len(artifacts)))[:: 1 if r % 2 == 0 else -1]
        for k, result in zip(order, bench([artifacts[k] for k in order], "host-cpu", data=sample)):
            if result.latency_ms is None:
                raise RuntimeError(f"timing a guard attempt failed on host-cpu: {result.error}")
            rounds[k].append(result.latency_ms.p50)
    return [statistics.median(values) for values in rounds]


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
