"""Measure artifacts on targets: latency protocol, memory and drift -> BenchResult.

A cell (one artifact on one target) that fails is recorded with its ``error`` and the
sweep goes on; only bad input (unknown or unavailable target, data that does not fit
the model) stops the whole call before any work starts.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress.artifact import Artifact
from edgepress.data import EvalData, check_label_classes, from_arrays, label_classes_exceeded, load_file, random_inputs
from edgepress.drift import accuracy, compare
from edgepress.errors import EdgepressError
from edgepress.layouts import adapt_inputs
from edgepress.reference import reference_outputs, static_batch
from edgepress.results import BenchResult
from edgepress.targets.base import RunSettings, Target, resolve_available

if TYPE_CHECKING:
    import numpy as np

# A cell is flagged noisy when other work took its CPUs (more than NOISY_PREEMPTIONS
# involuntary context switches per second per worker thread) or its slower runs stray far
# from the typical one (p90 / p50 above NOISY_TAIL). docs/results-schema.md gives the
# measurements behind both thresholds.
NOISY_PREEMPTIONS = 40.0
NOISY_TAIL = 1.5

DataArg = EvalData | tuple[Any, Any] | str | Path | Any | None
Progress = Callable[[str], None]


def bench(
    artifacts: Sequence[Artifact] | Artifact,
    target: str | Sequence[str] = "host-cpu",
    reference: Artifact | None = None,
    data: DataArg = None,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
) -> list[BenchResult]:
    """Measure each artifact on each target, with drift against ``reference``.

    Args:
        artifacts: artifacts from ``edgepress.convert`` or ``edgepress.load``.
        target: a target name, a comma-separated list, or a sequence of names.
        reference: the original model; drift and reference accuracy need it.
        data: ``(x, y)``, ``x``, a ``.npz``/``.npy`` path, or None for seeded random inputs.
        settings: threads, batch and timing bounds (defaults follow benchmark_model).
        progress: called with a short message before each cell.

    Example:
        >>> results = edgepress.bench(arts, target="host-cpu", reference=m, data=(x, y))
        >>> results[0].latency_ms.p50
    """
    arts = [artifacts] if isinstance(artifacts, Artifact) else list(artifacts)
    targets = [resolve_available(name) for name in _target_names(target)]
    settings = settings or RunSettings()
    spec_source = reference or arts[0]
    evaluation = prepare_data(data, spec_source)
    ref_out = reference_outputs(reference, evaluation.inputs) if reference is not None else None
    if ref_out is not None:
        check_label_classes(evaluation.labels, ref_out[0])  # before any cell is measured
    ref_stats = stats_or_none(reference) if reference is not None else None
    results = []
    for tgt in targets:
        for art in arts:
            if progress:
                progress(f"{art.name} on {tgt.name}")
            result = measure_cell(art, tgt, evaluation, ref_out, settings)
            result.model_stats, result.reference_stats = stats_or_none(art), ref_stats
            results.append(result)
    return results


def stats_or_none(art: Artifact) -> dict[str, Any] | None:
    """Parameters, sparsity and MACs where they can be read; None (not a failed cell) otherwise."""
    from edgepress.stats import model_stats

    try:
        return model_stats(art)
    except Exception:  # statistics are a courtesy: an unreadable model still gets measured
        return None


def prepare_data(data: DataArg, source: Artifact) -> EvalData:
    """Turn the ``data`` argument into checked EvalData (seeded random when None)."""
    spec = source.input_spec
    if data is None:
        return random_inputs(spec, sizes=_lengths_in_range(source))
    if isinstance(data, EvalData):
        return data
    if isinstance(data, (str, Path)):
        return load_file(data, spec)
    if isinstance(data, tuple) and len(data) == 2:
        return from_arrays(data[0], data[1], spec)
    return from_arrays(data, None, spec)


def _lengths_in_range(source: Artifact) -> dict[tuple[int, int], int]:
    """Sizes inside a PyTorch model's ranges for its dynamic non-batch dimensions (``Dim("T", min=4)``)."""
    from edgepress.artifact import Format

    if source.format not in (Format.TORCH, Format.TORCH_EXPORT):
        return {}
    from edgepress.converters.shapes import dims_of

    return {(d.input_index, d.axis): d.example for d in dims_of(source) if d.axis != 0}


def measure_cell(art: Artifact, tgt: Target, data: EvalData, ref_out: list[np.ndarray] | None, settings: RunSettings) -> BenchResult:
    """Measure one artifact on one target; a failure becomes the result's ``error``."""
    result = BenchResult(artifact=art.to_dict(), target=tgt.name, settings=settings.to_dict(), flags=_static_flags(art, tgt, data))
    result.env = _host_env(tgt)
    reason = tgt.format_reason(art.format)
    if reason:
        result.error = reason
        return result
    try:
        _fill(result, art, tgt, data, ref_out, _cell_settings(art, settings))
    except EdgepressError as exc:
        result.error = str(exc)
    return result


def _fill(result: BenchResult, art: Artifact, tgt: Target, data: EvalData, ref_out: list[np.ndarray] | None, settings: RunSettings) -> None:
    inputs, result.input_transform = adapt_inputs(data.inputs, data.layout, art.input_spec)
    measured = tgt.measure(art, inputs, settings)
    raw = measured.raw
    result.settings = settings.to_dict()
    result.set_timings(raw["samples_ms"], raw.get("io_samples_ms") or [])  # a board's older agent sends no io samples
    result.init_ms, result.first_inference_ms = raw["init_ms"], raw["first_inference_ms"]
    result.import_ms = raw.get("import_ms")
    result.drift_vs_host_cpu = raw.get("drift_vs_host_cpu")
    result.peak_rss_bytes, result.peak_rss_method = raw["peak_rss_bytes"], raw["peak_rss_method"]
    result.env = {**result.env, **raw["env"]}
    result.accuracy = accuracy(measured.outputs[0], data.labels)
    if label_classes_exceeded(data.labels, measured.outputs[0]) is not None:
        result.flags.append("labels_out_of_range")  # without a reference, the classes are known only now
        result.accuracy = None
    if ref_out is not None:
        result.drift = compare(measured.outputs, ref_out)
        result.reference_accuracy = accuracy(ref_out[0], data.labels)
    result.contention = raw.get("contention")
    if _noisy(result):
        result.flags.append("noisy")


def _noisy(result: BenchResult) -> bool:
    """Whether the latency of ``result`` was disturbed (see NOISY_PREEMPTIONS and NOISY_TAIL)."""
    lat, contention = result.latency_ms, result.contention or {}
    if lat is None:
        return False
    per_thread = contention.get("preemptions_per_s", 0.0) / max(int(result.settings.get("threads") or 1), 1)
    return per_thread > NOISY_PREEMPTIONS or lat.tail > NOISY_TAIL


def _cell_settings(art: Artifact, settings: RunSettings) -> RunSettings:
    """Use the artifact's static batch size where it has one."""
    from dataclasses import replace

    fixed = static_batch(art)
    return replace(settings, batch_size=fixed) if fixed else settings


def _static_flags(art: Artifact, tgt: Target, data: EvalData) -> list[str]:
    flags = []
    if data.random:
        flags.append("random_inputs")
    if tgt.emulated:
        flags.append("emulated")
    flags.extend(art.report.get("flags", []))
    return flags


def _host_env(tgt: Target) -> dict[str, Any]:
    from edgepress._version import __version__

    return {"edgepress": __version__, "host_python": platform.python_version(), "target": tgt.name, "emulated": tgt.emulated}


def _target_names(target: str | Sequence[str]) -> list[str]:
    names = target.split(",") if isinstance(target, str) else list(target)
    return [n.strip() for n in names if n.strip()]
