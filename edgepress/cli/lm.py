"""The language-model paths of ``convert``, ``quantize`` and ``bench`` (``--hf DIR``, ``--task``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgepress.cli.common import console, err_console, escape, split_list, step
from edgepress.errors import BadInputError

HFOption = Annotated[Optional[Path], typer.Option("--hf", help="A Hugging Face model folder (config and weights, or a GGUF file with --gguf); loaded offline.")]
GGUFOption = Annotated[Optional[str], typer.Option("--gguf", help="GGUF file name inside the --hf folder (or the --ref folder for bench).")]
TaskOption = Annotated[Optional[str], typer.Option("--task", help="text-generation (decoders) or feature-extraction (encoders); with --hf, default text-generation.")]
RemoteCodeOption = Annotated[bool, typer.Option("--trust-remote-code", help="Run the Python code a Hugging Face folder ships (never implied).")]


def load(folder: Path, gguf: str | None, task: str | None, trust_remote_code: bool) -> Any:
    from edgepress.lm.hf import Task, from_hf

    return from_hf(folder, Task.parse(task) if task else Task.TEXT_GENERATION, gguf_file=gguf, trust_remote_code=trust_remote_code)


def convert(folder: Path, gguf: str | None, task: str | None, to: str, out: Path, quiet: bool, trust_remote_code: bool) -> None:
    from edgepress.lm.api import check_formats, convert_lm
    from edgepress.storage import check_writable_dir

    formats = split_list(to)
    check_formats(formats)
    check_writable_dir(out, "--out")
    with step(f"loading {folder} and converting it to {', '.join(formats)}", quiet):
        made = convert_lm(load(folder, gguf, task, trust_remote_code), formats, out)
    _print(made, quiet)


def quantize(folder: Path, gguf: str | None, task: str | None, mode: str, group_size: int, method: str | None, to: str, out: Path,
             quiet: bool, trust_remote_code: bool, text_file: Path | None = None) -> None:
    from edgepress.lm.api import check_formats, quantize_lm, spec_of
    from edgepress.lm.text import read_text
    from edgepress.storage import check_writable_dir

    spec = spec_of(mode, group_size, method or "rtn")  # bad flags before the slow load
    if text_file is not None and spec.weight_method.value != "gptq":
        raise BadInputError(f"--data with --hf is calibration text for --method gptq; {spec.weight_method.value} uses no data")
    text = read_text(text_file, "--data") if text_file is not None else None
    formats = split_list(to)
    check_formats(formats)
    check_writable_dir(out, "--out")
    with step(f"loading {folder} and quantizing it ({mode})", quiet):  # one step: a bad --group-size ends it without a "done" line
        made = quantize_lm(load(folder, gguf, task, trust_remote_code), mode, group_size, method or "rtn", formats, out, text)
    _print(made, quiet)
    for artifact in made:
        facts = artifact.report.get("quantization", {})
        lines = float_lines(artifact.path.name, facts.get("float_weights", []) + facts.get("float_layers", []))
        narrower = narrower_group_lines(artifact.path.name, facts.get("narrower_group_layers", []))
        for line in [*eight_bit_lines(artifact.path.name, facts.get("eight_bit_layers", [])), *narrower, *lines]:
            err_console.print(escape(line), highlight=False, soft_wrap=True)  # one line each, however long the names


LISTED = 3  # float weights named one per line; more with the same reason share one line (the report lists every one)


def float_lines(file: str, weights: list[dict[str, Any]]) -> list[str]:
    """What ``quantize`` says of the weights left in float: one line per weight, or per reason when many share one."""
    by_reason: dict[str, list[str]] = {}
    for weight in weights:  # ONNX names nodes, ExecuTorch layers, TFLite operators
        what = f"{weight['node'] if 'node' in weight else weight['layer']} {weight['shape']}" if "shape" in weight else f"{weight['weights']} weights read by {weight['operator']}"
        by_reason.setdefault(weight["reason"], []).append(what)
    lines = []
    for reason, names in by_reason.items():
        if len(names) <= LISTED:
            lines += [f"left in float in {file}: {name}: {reason}" for name in names]
        else:
            lines.append(f"left in float in {file}: {len(names)} weights ({', '.join(names[:2])}, ...): {reason}; all in the artifact's report")
    return lines


def eight_bit_lines(file: str, layers: list[str]) -> list[str]:
    """What ``quantize`` says of the layers an INT4 file keeps at 8 bits: one line, by kind of layer."""
    if not layers:
        return []
    return [f"kept at 8 bits in {file}: {len(layers)} layers ({', '.join(_kinds(layers))}): 4-bit weights there cost the most accuracy; all in the artifact's report"]


def narrower_group_lines(file: str, layers: list[dict[str, Any]]) -> list[str]:
    """What ``quantize`` says of the layers given a smaller group than asked: one line per group size and reason, by kind of layer."""
    by_setting: dict[tuple[int, str], list[str]] = {}
    for layer in layers:
        by_setting.setdefault((layer["group_size"], layer["reason"]), []).append(layer["layer"])
    return [f"at group {group} in {file}: {len(names)} layers ({', '.join(_kinds(names))}): {reason}; all in the artifact's report"
            for (group, reason), names in sorted(by_setting.items())]


def _kinds(names: list[str]) -> list[str]:
    """Layer kinds, as transformers names them: ``model.layers.3.mlp.up_proj`` -> ``mlp.up_proj``."""
    return sorted({".".join(name.split(".")[-2:]) for name in names})


def bench(paths: list[Path], task: str | None, ref: Path | None, gguf: str | None, text: Path | None, prompt_tokens: int, new_tokens: int,
          eval_tokens: int, window: int, threads: int | None, json_out: str | None, quiet: bool, trust_remote_code: bool,
          target: str = "host-cpu") -> None:
    from edgepress.lm.bench import bench_lm, load_lm
    from edgepress.lm.text import read_text
    from edgepress.storage import check_writable_file, write_json_atomic

    if json_out and json_out != "-":
        check_writable_file(json_out, "--json")
    if threads is not None and threads < 1:
        raise BadInputError("--threads must be at least 1")
    if task is not None:
        from edgepress.lm.hf import Task

        Task.parse(task)  # a misspelt task before any file is read
    from edgepress.lm.targets import check_lm_target, check_target_name

    check_target_name(target)  # before any file is read
    body = read_text(text) if text is not None else None
    artifacts = [load_lm(p) for p in paths]
    task = task or artifacts[0].report.get("task")
    if target != "host-cpu":
        check_lm_target(target, {a.format for a in artifacts})  # a target that cannot run them, before the reference loads
    with step(f"measuring {len(artifacts)} language-model artifact(s) on {target}", quiet):
        reference = load(ref, gguf, task, trust_remote_code) if ref else None
        doc = bench_lm(artifacts, reference, body, prompt_tokens, new_tokens, eval_tokens, window, threads, target=target)
    if json_out == "-":
        print(json.dumps(doc, indent=2, default=str))
    elif json_out:
        write_json_atomic(Path(json_out), doc)
    if not quiet and json_out != "-":
        _table(doc)
    failed = [r for r in doc["results"] if "error" in r]
    if failed:
        err_console.print(f"{len(failed)} of {len(doc['results'])} measurement(s) failed", highlight=False)
        raise typer.Exit(1)


def _print(made: list[Any], quiet: bool) -> None:
    for artifact in made:
        console.print(str(artifact.path) if quiet else f"{artifact.format.value:>10}  {artifact.path}  ({artifact.size_bytes} bytes)", highlight=False)


def _table(doc: dict[str, Any]) -> None:
    from rich.table import Table

    decoder, env = doc["task"] == "text-generation", doc["environment"]
    emulated = bool(env.get("emulated"))
    speed, quality = ("tokens/s", "perplexity") if decoder else ("latency", "cosine against the reference")
    where = f"{env.get('target', 'host-cpu')} (emulated: {speed} is QEMU's, not the core's; {quality} is the host's)" if emulated else env.get("target", "host-cpu")
    table = Table(title=f"{doc['task']} on {where}, {env['threads'] or 'all'} thread(s)")
    heads = ["artifact", "size MB"] + (["TTFT ms", "decode tok/s", "perplexity", "ref ppl", "agree", "KL"] if decoder else
                                       ["p50 ms", "cosine mean", "cosine min"]) + ([_HOST_CHECK[decoder]] if emulated else [])
    for head in heads:
        table.add_column(head, justify="left" if head == "artifact" else "right")
    for row in doc["results"]:
        table.add_row(*_cells(row, decoder), *([_host_check(row, decoder)] if emulated and "error" not in row else []))
    console.print(table)


_HOST_CHECK = {True: "tokens as on host", False: "cosine to host (min)"}


def _host_check(row: dict[str, Any], decoder: bool) -> str:
    """How the emulated run agrees with the same artifact's run on the host: leading greedy tokens, or the worst sentence's cosine."""
    if decoder:
        return f"{row['quality'].get('host_match_tokens', 0)} of {row['generation']['new_tokens']}"
    return _fmt(row["quality"].get("host_cosine_min"), ".5f")


def _cells(row: dict[str, Any], decoder: bool) -> list[str]:
    if "error" in row:
        return [row["artifact"], escape(row["error"])]
    q = row["quality"]
    size = f"{row['size_bytes'] / 1e6:.1f}"
    if not decoder:
        return [row["artifact"], size, f"{row['latency_ms']['p50']:.2f}", _fmt(q.get("cosine_mean"), ".5f"), _fmt(q.get("cosine_min"), ".5f")]
    g = row["generation"]
    return [row["artifact"], size, f"{g['ttft_ms']:.1f}", f"{g['decode_tok_s']:.1f}", f"{q['perplexity']:.3f}", _fmt(q.get("ref_perplexity"), ".3f"),
            _fmt(q.get("next_token_agreement"), ".1%"), _fmt(q.get("kl_div"), ".4f")]


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)
