"""Timed generation (decoders) or embedding (encoders) of one artifact, in a worker process of its own.

Usage: python -m edgepress.lm.speed REQUEST.json  (writes the JSON result to request["result"])

A process per artifact and round, as for every other measurement: peak RSS is the
artifact's alone (VmHWM), and a runtime crash becomes an error in the results, not a dead
CLI. Threads are pinned to the least busy cores when fewer than all are asked for. Rounds
are interleaved across artifacts (``measure_rounds``): on a shared machine that slows down
for a minute, every artifact loses a round alike, instead of one artifact its whole figure.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ENCODER_MIN_RUNS = 20
ENCODER_MIN_SECONDS = 1.0
ROUNDS = 3


# what an emulated Python runs: edgepress from a folder holding only a link to this package (the host's
# site-packages would put x86 extension modules on the guest's path), then this module's main
GUEST_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from edgepress.lm.speed import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class Runner:
    """Where the speed worker runs: the host's Python (no ``prefix``), or an emulated one (``prefix``: the argv that starts it)."""

    name: str = "host-cpu"
    prefix: tuple[str, ...] = ()
    env: dict[str, str] | None = field(default=None, compare=False)
    facts: dict[str, Any] = field(default_factory=dict, compare=False)  # what the results say of the target

    @property
    def emulated(self) -> bool:
        return bool(self.prefix)

    def argv(self, work: Path, request: Path) -> list[str]:
        if not self.prefix:
            return [sys.executable, "-m", "edgepress.lm.speed", str(request)]
        package = work / "package"
        package.mkdir()
        (package / "edgepress").symlink_to(Path(__file__).resolve().parents[1])
        return [*self.prefix, "-P", "-c", GUEST_BOOT, str(package), str(request)]


HOST = Runner()


def measure_rounds(requests: list[dict[str, Any]], rounds: int = ROUNDS, runner: Runner = HOST) -> list[dict[str, Any]]:
    """Each request measured in ``rounds`` workers, one round each, round 1 of every request before round 2 of any.

    A request whose worker fails is not measured again: its result is that error.
    """
    done: list[list[dict[str, Any]]] = [[] for _ in requests]
    for _ in range(rounds):
        for request, results in zip(requests, done):
            if not results or "error" not in results[-1]:
                results.append(measure_in_worker(request | {"rounds": 1}, runner=runner))
    return [merge_rounds(results) for results in done]


def merge_rounds(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from a request's rounds: medians of the rounds' figures, percentiles over every sample, the largest peak RSS."""
    if "error" in results[-1]:
        return results[-1]
    merged = results[0] | {"load_ms": statistics.median(r["load_ms"] for r in results), "import_ms": statistics.median(r["import_ms"] for r in results),
                           "peak_rss_bytes": max(r["peak_rss_bytes"] for r in results)}
    if "generation" in merged:
        merged["generation"] = _merge_generation([r["generation"] for r in results])
    else:
        samples = np.concatenate([r["latency_samples_ms"] for r in results])
        merged |= {"latency_ms": latency_stats(samples) | {"round_p50": [r["latency_ms"]["p50"] for r in results]},
                   "latency_samples_ms": samples.tolist(), "rounds": len(results)}
    return merged


def _merge_generation(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """TTFT and decode tokens/s: the median round (a round that a busy neighbour slowed does not drag the figure)."""
    steps = np.concatenate([g["decode_samples_ms"] for g in rounds])
    per_round = [g["decode_tok_s"] for g in rounds if g["decode_tok_s"] is not None]
    ttft = statistics.median(g["ttft_ms"] for g in rounds)
    return rounds[0] | {"ttft_ms": ttft, "prefill_tok_s": rounds[0]["prompt_tokens"] / (ttft / 1e3),
                        "decode_tok_s": statistics.median(per_round) if per_round else None, "round_decode_tok_s": per_round,
                        "decode_ms": latency_stats(steps) if steps.size else {}, "decode_samples_ms": steps.tolist(), "rounds": len(rounds)}


def measure_in_worker(request: dict[str, Any], timeout_s: float = 1800, runner: Runner = HOST) -> dict[str, Any]:
    """Run the worker on ``request`` with ``runner`` and return its result (``{"error": ...}`` when it failed)."""
    import tempfile

    from edgepress.quiet import log_child_output

    with tempfile.TemporaryDirectory(prefix="edgepress-lm-") as tmp:
        path, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        path.write_text(json.dumps(request | {"result": str(result)}))
        try:
            done = subprocess.run(runner.argv(Path(tmp), path), capture_output=True, text=True, timeout=timeout_s, env=runner.env)
        except subprocess.TimeoutExpired:
            return {"error": f"the measurement took longer than {timeout_s:.0f} s"}
        log_child_output("language-model speed worker", done.stderr, done.stdout)
        if not result.exists():
            tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            return {"error": f"the speed worker failed: {tail[0][:200]}"}
        return json.loads(result.read_text())


def measure(request: dict[str, Any]) -> dict[str, Any]:
    from edgepress.targets.measure_worker import pin_threads, rss_bytes

    threads = request.get("threads")
    pinned = pin_threads(threads) if threads else None
    start = time.perf_counter()
    if request["path"].endswith(".pte"):
        import executorch.runtime  # noqa: F401  (imported before the load timer: load_ms is the model, not the import)
    elif request["path"].endswith(".tflite"):
        import ai_edge_litert.interpreter  # noqa: F401
    else:
        import onnxruntime  # noqa: F401

        from edgepress.lm.genai_session import runs_in_genai  # imports onnxruntime_genai where it will run the file

        runs_in_genai(Path(request["path"]))

    imported = time.perf_counter()
    out = (_decoder if request["task"] == "text-generation" else _encoder)(request, imported)
    return out | {"import_ms": (imported - start) * 1e3, "peak_rss_bytes": rss_bytes(), "threads": threads, "pinned_cpus": pinned}


def _decoder(request: dict[str, Any], imported: float) -> dict[str, Any]:
    from edgepress.lm.sessions import greedy

    decoder, runner = generation_decoder(request)
    load_ms = (time.perf_counter() - imported) * 1e3
    greedy(decoder, request["prompt"][:8], 4)  # warm-up: first-run allocations are not decode speed
    rounds = [greedy(decoder, request["prompt"], request["new_tokens"]) for _ in range(request.get("rounds", 3))]
    return {"load_ms": load_ms, "generation": summarize(rounds, len(request["prompt"])) | {"runner": runner}}


def generation_decoder(request: dict[str, Any]) -> tuple[Any, str]:
    """The decoder that times generation, and what runs it: ONNX Runtime GenAI's generator where the folder is
    made for it (its shared KV buffer is how ONNX decoders ship), else the format's own runtime."""
    from edgepress.lm.genai_session import GenaiDecoder, runs_in_genai
    from edgepress.lm.sessions import decoder_for

    path, threads = Path(request["path"]), request.get("threads")
    if runs_in_genai(path):
        decoder = GenaiDecoder(path, threads, len(request["prompt"]) + request["new_tokens"])
        return decoder, decoder.runner
    runner = {".pte": "executorch runtime", ".tflite": "litert signature runner"}.get(path.suffix, "onnxruntime session")
    return decoder_for(path, threads, request.get("max_length")), runner


def summarize(rounds: list[Any], prompt_tokens: int) -> dict[str, Any]:
    """TTFT and prefill speed: the median round; decode speed: all decode steps of all rounds."""
    ttft = statistics.median(r.prefill_ms for r in rounds)
    steps = np.asarray([ms for r in rounds for ms in r.decode_ms])
    decode = latency_stats(steps) if steps.size else {}
    return {"ttft_ms": ttft, "prefill_tok_s": prompt_tokens / (ttft / 1e3), "decode_tok_s": 1e3 / float(steps.mean()) if steps.size else None,
            "decode_ms": decode, "decode_samples_ms": steps.tolist(), "prompt_tokens": prompt_tokens, "new_tokens": len(rounds[0].tokens),
            "rounds": len(rounds), "tokens": rounds[0].tokens}


def latency_stats(samples: np.ndarray) -> dict[str, float]:
    return {"p50": float(np.percentile(samples, 50)), "p90": float(np.percentile(samples, 90)), "p99": float(np.percentile(samples, 99)),
            "mean": float(samples.mean()), "min": float(samples.min()), "max": float(samples.max()), "n": int(samples.size)}


def _encoder(request: dict[str, Any], imported: float) -> dict[str, Any]:
    from edgepress.lm.sessions import encoder_for

    encoder = encoder_for(Path(request["path"]), request.get("threads"))
    load_ms = (time.perf_counter() - imported) * 1e3
    ids = np.asarray([request["prompt"]], dtype=np.int64)
    mask = np.ones_like(ids)
    for _ in range(3):
        encoder.hidden(ids, mask)
    samples: list[float] = []
    begin = time.perf_counter()
    while len(samples) < ENCODER_MIN_RUNS or time.perf_counter() - begin < ENCODER_MIN_SECONDS:
        start = time.perf_counter()
        encoder.hidden(ids, mask)
        samples.append((time.perf_counter() - start) * 1e3)
    out = {"load_ms": load_ms, "latency_ms": latency_stats(np.asarray(samples)), "latency_samples_ms": samples, "sequence": ids.shape[1]}
    if "check" in request:  # on an emulated core: the embeddings the host compares with its own run of the same file
        out["check_embeddings"] = check_embeddings(encoder, request["check"]).tolist()
    return out


def check_embeddings(encoder: Any, check: dict[str, list[list[int]]]) -> np.ndarray:
    """Mean-pooled embeddings of the padded sentences in ``check`` (``ids``, ``mask``)."""
    from edgepress.lm.quality import mean_pool

    ids, mask = np.asarray(check["ids"], dtype=np.int64), np.asarray(check["mask"], dtype=np.int64)
    return mean_pool(encoder.hidden(ids, mask), mask)


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text())
    try:
        result = measure(request)
    except Exception as exc:  # noqa: BLE001  (any runtime failure becomes the result's error)
        from edgepress.errors import first_line

        result = {"error": f"{type(exc).__name__}: {first_line(exc)}"}
    Path(request["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
