"""``bench_lm``: size, speed and quality of language-model artifacts, on the same text and threads.

Quality runs here, window by window, so the reference's and each artifact's logits for the
same tokens sit side by side (KL needs both full distributions); speed runs in a worker
process per artifact (``speed``). The document is described in docs/results-schema.md.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgepress.artifact import Artifact, Format, InputSpec
from edgepress.errors import BadInputError
from edgepress.lm.hf import HFModel, Task
from edgepress.lm.speed import HOST, Runner
from edgepress.lm.text import DEFAULT_EVAL_TOKENS, DEFAULT_WINDOW

SCHEMA = "edgepress.lm-results"
SCHEMA_VERSION = 2  # 2: speed rounds interleaved across artifacts; decode_tok_s is the median round's
DEFAULT_SENTENCES = 200
ENCODER_SEQUENCE = 128


def load_lm(path: str | Path) -> Artifact:
    """A language-model artifact edgepress wrote (an .onnx, .pte or .tflite file, or its folder, which holds the tokenizer)."""
    file = Path(path)
    if file.is_dir():
        found = sorted(p for suffix in LM_SUFFIXES for p in file.glob(f"*{suffix}"))
        if len(found) != 1:
            raise BadInputError(f"{file} holds {len(found)} .onnx/.pte/.tflite files; name the one to measure")
        file = found[0]
    if not file.is_file() or file.suffix not in LM_SUFFIXES:
        raise BadInputError(f"{file}: a language-model artifact is an .onnx, .pte or .tflite file (or the folder edgepress wrote it in)")
    return _load_onnx(file) if file.suffix == ".onnx" else _load_static(file, LM_SUFFIXES[file.suffix])


LM_SUFFIXES = {".onnx": Format.ONNX, ".pte": Format.EXECUTORCH, ".tflite": Format.TFLITE}


def _load_static(file: Path, fmt: Format) -> Artifact:
    """A .pte or .tflite decoder: its cache length is a fact of the export, kept in the sidecar."""
    from edgepress.lm.onnx_export import recall

    found = recall(Artifact.from_file(file, fmt, InputSpec(()), side_files=sorted(p for p in file.parent.iterdir() if p != file and p.is_file())))
    if "max_length" not in found.report:
        raise BadInputError(f"{file} was not written by edgepress convert --hf (its cache length is unknown); export it again")
    return found


def _load_onnx(file: Path) -> Artifact:
    import onnx

    from edgepress.lm.onnx_export import describe, recall

    names = [i.name for i in onnx.load(str(file), load_external_data=False).graph.input]
    task = Task.TEXT_GENERATION if any(n.startswith("past_key_values.") for n in names) else Task.FEATURE_EXTRACTION
    return recall(describe(file, task))


def bench_lm(artifacts: Sequence[Artifact], reference: HFModel | None = None, text: str | None = None, prompt_tokens: int = 128,
             new_tokens: int = 64, eval_tokens: int = DEFAULT_EVAL_TOKENS, window: int = DEFAULT_WINDOW, threads: int | None = None,
             sentences: int = DEFAULT_SENTENCES, target: str = "host-cpu") -> dict[str, Any]:
    """Measure language-model artifacts; quality is against ``reference`` when given.

    ``target="arm64-emu[:CPU]"`` runs the speed worker under QEMU on that CPU model
    (``edgepress.lm.targets``): a decoder's greedy tokens, or an encoder's embeddings of the first
    sentences, are checked against the same file's on the host; quality stays a host figure.

    Example:
        >>> doc = bench_lm([load_lm("out/smollm2_int4")], reference=from_hf("SmolLM2", gguf_file="m.gguf"))
        >>> doc["results"][0]["quality"]["perplexity"] > 1
        True
    """
    from edgepress.lm.targets import lm_runner
    from edgepress.lm.text import DEFAULT_TEXT, read_text

    task = _one_task(artifacts, reference)
    runner = lm_runner(target, {a.format for a in artifacts})  # before any work: a target that cannot run them
    source = DEFAULT_TEXT if text is None else "user text"
    body = read_text() if text is None else text
    tokenizer = reference.tokenizer if reference is not None else _tokenizer(artifacts[0])
    if task is Task.TEXT_GENERATION:
        rows, ref = _decoders(artifacts, reference, tokenizer, body, prompt_tokens, new_tokens, eval_tokens, window, threads, runner)
        settings = {"prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "eval_tokens": eval_tokens, "window": window}
    else:
        rows, ref = _encoders(artifacts, reference, tokenizer, body, sentences, threads, runner)
        settings = {"sentences": sentences, "sequence": ENCODER_SEQUENCE}
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "task": task.value, "environment": environment(threads) | {"target": runner.name, **runner.facts},
            "text": source, "settings": settings, "reference": ref, "results": rows}


def _one_task(artifacts: Sequence[Artifact], reference: HFModel | None) -> Task:
    if not artifacts:
        raise BadInputError("no artifact to measure")
    tasks = {Task(a.report.get("task", Task.TEXT_GENERATION.value)) for a in artifacts}
    if len(tasks) > 1:
        raise BadInputError("measure decoders and encoders in separate runs (the metrics differ)")
    task = tasks.pop()
    if reference is not None and reference.task is not task:
        raise BadInputError(f"the artifacts are {task.value} models but --ref was loaded for {reference.task.value}; give the same --task")
    return task


def _tokenizer(artifact: Artifact) -> Any:
    from transformers import AutoTokenizer

    assert artifact.path is not None
    folder = artifact.path.parent
    if not (folder / "tokenizer_config.json").exists() and not (folder / "tokenizer.json").exists():
        raise BadInputError(f"{folder} has no tokenizer beside the model; give the original model with --ref")
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _decoders(artifacts: Sequence[Artifact], reference: HFModel | None, tokenizer: Any, text: str, prompt_tokens: int, new_tokens: int,
              eval_tokens: int, window: int, threads: int | None, runner: Runner = HOST) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    from edgepress.lm.quality import Tally
    from edgepress.lm.sessions import TorchDecoder, decoder_for, greedy
    from edgepress.lm.speed import ROUNDS, measure_rounds
    from edgepress.lm.text import token_ids, windows

    if prompt_tokens < 1 or new_tokens < 1:
        raise BadInputError("--prompt-tokens and --new-tokens must be at least 1")
    ids = token_ids(tokenizer, text, max(eval_tokens, prompt_tokens))
    chunks, prompt = windows(ids[:eval_tokens], window), ids[:prompt_tokens]
    _check_lengths(artifacts, window, prompt_tokens + new_tokens)
    models = [decoder_for(a.path, threads, a.report.get("max_length")) for a in artifacts]  # type: ignore[arg-type]
    tallies = [Tally() for _ in artifacts]
    ref_tally, ref_model = Tally(), TorchDecoder(reference.model) if reference is not None else None
    for chunk in chunks:
        targets = np.asarray(chunk[1:])
        ref_logits = ref_model.forward(chunk, ref_model.start())[0][:-1] if ref_model else None
        if ref_logits is not None:
            ref_tally.add(ref_logits, targets)
        for model, tally in zip(models, tallies):
            tally.add(model.forward(chunk, model.start())[0][:-1], targets, ref_logits)
    ref_tokens = greedy(ref_model, prompt, new_tokens).tokens if ref_model else None
    host_tokens = [greedy(model, prompt, new_tokens).tokens for model in models] if runner.emulated else None  # what the guest must reproduce
    del models
    rows = []
    speeds = measure_rounds([{"path": str(a.path), "task": Task.TEXT_GENERATION.value, "threads": threads, "prompt": prompt, "new_tokens": new_tokens,
                              "max_length": a.report.get("max_length")} for a in artifacts], rounds=1 if runner.emulated else ROUNDS, runner=runner)
    for index, (artifact, tally, speed) in enumerate(zip(artifacts, tallies, speeds)):
        quality = tally.summary()
        if ref_tally.positions:
            quality["ref_perplexity"] = ref_tally.summary()["perplexity"]
        if ref_tokens is not None and "generation" in speed:
            quality["greedy_match_tokens"] = _leading_match(speed["generation"]["tokens"], ref_tokens)
        if host_tokens is not None and "generation" in speed:
            quality["host_match_tokens"] = _leading_match(speed["generation"]["tokens"], host_tokens[index])
        rows.append(_row(artifact, speed, quality) | {"target": runner.name})
    ref = {"name": reference.name, "perplexity": ref_tally.summary()["perplexity"], "greedy_tokens": ref_tokens} if reference else None
    return rows, ref


def _check_lengths(artifacts: Sequence[Artifact], window: int, generated: int) -> None:
    """A .pte's or .tflite's fixed cache bounds the perplexity window and prompt + new tokens: refuse before any work."""
    for artifact in artifacts:
        limit = artifact.report.get("max_length")
        if limit is not None and max(window, generated) >= limit:
            raise BadInputError(f"{artifact.name} holds {limit} positions in its cache; use --window and --prompt-tokens + --new-tokens below that")


def _encoders(artifacts: Sequence[Artifact], reference: HFModel | None, tokenizer: Any, text: str, count: int,
              threads: int | None, runner: Runner = HOST) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    from edgepress.lm.quality import cosines, mean_pool
    from edgepress.lm.sessions import TorchEncoder
    from edgepress.lm.speed import ROUNDS, measure_rounds
    from edgepress.lm.text import token_ids

    batch = tokenizer(sentences_of(text, count), padding=True, truncation=True, max_length=ENCODER_SEQUENCE, return_tensors="np")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    ref = mean_pool(TorchEncoder(reference.model).hidden(ids, mask), mask) if reference is not None else None
    prompt = token_ids(tokenizer, text, ENCODER_SEQUENCE)
    check = {"ids": ids[:EMULATED_SENTENCES].tolist(), "mask": mask[:EMULATED_SENTENCES].tolist()} if runner.emulated else None
    requests = [{"path": str(a.path), "task": Task.FEATURE_EXTRACTION.value, "threads": threads, "prompt": prompt} | ({"check": check} if check else {})
                for a in artifacts]
    rows = []
    for artifact, speed in zip(artifacts, measure_rounds(requests, rounds=1 if runner.emulated else ROUNDS, runner=runner)):
        quality: dict[str, Any] = {"sentences": int(ids.shape[0])}
        got = _host_embeddings(artifact, ids, mask, threads) if ref is not None or check else None
        if ref is not None:
            sims = cosines(got, ref)
            quality |= {"cosine_mean": float(sims.mean()), "cosine_min": float(sims.min())}
        if check and "check_embeddings" in speed:
            quality["host_cosine_min"] = float(cosines(np.asarray(speed.pop("check_embeddings")), got[:EMULATED_SENTENCES]).min())
        rows.append(_row(artifact, speed, quality) | {"target": runner.name})
    return rows, ({"name": reference.name} if reference else None)


EMULATED_SENTENCES = 8  # sentences an emulated core embeds for the check against the host (QEMU runs them slowly)


def _host_embeddings(artifact: Artifact, ids: np.ndarray, mask: np.ndarray, threads: int | None) -> np.ndarray:
    from edgepress.lm.quality import mean_pool
    from edgepress.lm.sessions import encoder_for

    assert artifact.path is not None  # language-model artifacts are files
    return mean_pool(encoder_for(artifact.path, threads).hidden(ids, mask), mask)


def sentences_of(text: str, count: int) -> list[str]:
    """The first ``count`` sentences of at least four words (split at '. ' and line ends)."""
    found = []
    for line in text.splitlines():
        for part in line.replace(". ", ".\n").splitlines():
            if len(part.split()) >= 4:
                found.append(part.strip())
                if len(found) == count:
                    return found
    if not found:
        raise BadInputError("the text has no sentence of four or more words to embed")
    return found


def _leading_match(tokens: list[int], reference: list[int]) -> int:
    same = 0
    for a, b in zip(tokens, reference):
        if a != b:
            break
        same += 1
    return same


def _row(artifact: Artifact, speed: dict[str, Any], quality: dict[str, Any]) -> dict[str, Any]:
    from edgepress.quantization import facts

    return {"artifact": artifact.name, "path": str(artifact.path), "size_bytes": artifact.size_bytes, "lineage": list(artifact.lineage),
            "quantization": facts(artifact.report) or None, **speed, "quality": quality}


def environment(threads: int | None) -> dict[str, Any]:
    from edgepress.targets.cpuinfo import host_cpu_count
    from edgepress.targets.measure_worker import cpu_facts

    cpu = {k: v for k, v in cpu_facts().items() if k != "flags"}
    return {"cpu": cpu, "cores": host_cpu_count(), "threads": threads, "python": platform.python_version(), "runtime": _versions()}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("onnxruntime", "torch", "transformers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
