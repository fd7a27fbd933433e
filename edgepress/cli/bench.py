"""``edgepress bench ARTIFACT... --target host-cpu [--ref MODEL] [--data FILE] [--json OUT]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgepress.cli.common import VerboseOption, WideOption, cli_errors, console, err_console, parse_shape, print_results, step
from edgepress.cli.lm import GGUFOption, RemoteCodeOption, TaskOption
from edgepress.errors import BadInputError
from edgepress.lm.text import DEFAULT_EVAL_TOKENS, DEFAULT_WINDOW


@cli_errors
def command(
    artifacts: Annotated[list[Path], typer.Argument(help="Artifacts to measure (.onnx, .pt2, ...).")],
    target: Annotated[str, typer.Option(help="Comma-separated targets; see 'edgepress targets'.")] = "host-cpu",
    ref: Annotated[Optional[Path], typer.Option("--ref", help="Reference (original) model for drift.")] = None,
    data: Annotated[Optional[Path], typer.Option(help=".npz with x (and labels y), or .npy; default: seeded random inputs.")] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write results JSON here ('-' for stdout).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Runtime threads (default: all cores).")] = None,
    iters: Annotated[int, typer.Option(help="Minimum timed runs.")] = 50,
    min_seconds: Annotated[float, typer.Option(help="Minimum seconds of timed runs.")] = 1.0,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up runs.")] = 5,
    input_shape: Annotated[Optional[str], typer.Option(help="Input shape for TorchScript files, e.g. 1x3x224x224.")] = None,
    task: TaskOption = None,
    gguf: GGUFOption = None,
    text: Annotated[Optional[Path], typer.Option("--text", help="Language models: text to score perplexity on (default: Python's documentation topics).")] = None,
    prompt_tokens: Annotated[int, typer.Option("--prompt-tokens", help="Language models: prompt length for TTFT and decode speed.")] = 128,
    new_tokens: Annotated[int, typer.Option("--new-tokens", help="Language models: tokens generated (greedy) per timed round.")] = 64,
    eval_tokens: Annotated[int, typer.Option("--eval-tokens", help="Language models: tokens of --text scored for perplexity.")] = DEFAULT_EVAL_TOKENS,
    window: Annotated[int, typer.Option("--window", help="Language models: perplexity window (tokens of context).")] = DEFAULT_WINDOW,
    trust_remote_code: RemoteCodeOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table, no progress.")] = False,
    wide: WideOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Measure artifacts: latency, memory and drift against --ref. Exit 1 if any cell failed.

    Language models (--task, or an artifact folder written by convert --hf): tokens/s, TTFT and perplexity against --ref (a Hugging Face folder).
    """
    if task is not None or any(p.is_dir() for p in artifacts):
        from edgepress.cli import lm

        return lm.bench(artifacts, task, ref, gguf, text, prompt_tokens, new_tokens, eval_tokens, window, threads, json_out, quiet, trust_remote_code, target)
    from edgepress.intake.files import load
    from edgepress.measure import bench
    from edgepress.report.results import results_document, write_results
    from edgepress.storage import check_writable_file
    from edgepress.targets.base import RunSettings

    if json_out and json_out != "-":
        check_writable_file(json_out, "--json")  # before the measurement, not after it
    settings = _settings(RunSettings, threads, iters, min_seconds, warmup)
    shape = parse_shape(input_shape)
    arts = [load(p, input_shape=shape) for p in _models_only(artifacts)]
    reference = load(ref, input_shape=shape) if ref else None
    with step(f"measuring {len(arts)} artifact(s) on {target}", quiet):
        results = bench(arts, target=target, reference=reference, data=data, settings=settings)
    if json_out == "-":
        print(json.dumps(results_document(results), indent=2, default=str))
    elif json_out:
        write_results(json_out, results)
    if not quiet and json_out != "-":
        print_results(results, wide)
        if json_out:
            console.print(f"results: {json_out}", highlight=False)
    failed = [r for r in results if r.error]
    if failed:
        err_console.print(f"{len(failed)} of {len(results)} measurement(s) failed", highlight=False)
        raise typer.Exit(1)


def _settings(cls: type, threads: int | None, iters: int, min_seconds: float, warmup: int) -> object:
    if iters < 1 or min_seconds < 0 or warmup < 0 or (threads is not None and threads < 1):
        raise BadInputError("--iters and --threads must be at least 1; --min-seconds and --warmup not negative")
    extra = {"threads": threads} if threads else {}
    return cls(min_iters=iters, min_seconds=min_seconds, warmup=warmup, **extra)


def _models_only(paths: list[Path]) -> list[Path]:
    """Drop an ONNX model's weights side file when the model itself is listed (``OUT/*``)."""
    named = {str(p) for p in paths}
    return [p for p in paths if not (p.name.endswith(".onnx.data") and str(p)[: -len(".data")] in named)]
