"""``from_hf``: a Hugging Face transformers model and its tokenizer, loaded offline."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepress.errors import BadInputError, ModelLoadError, unknown_name


class Task(enum.Enum):
    """What the model is used for; the value is the CLI name (Hugging Face's task names)."""

    TEXT_GENERATION = "text-generation"
    FEATURE_EXTRACTION = "feature-extraction"

    @classmethod
    def parse(cls, name: str) -> Task:
        for task in cls:
            if task.value == name.strip().lower():
                return task
        raise unknown_name("task", name, [t.value for t in cls])


# Architectures whose export, cache layout and quantization are tested (config.model_type).
DECODERS = ("llama", "mistral", "qwen2")
ENCODERS = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet")
_WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")


@dataclass(frozen=True)
class HFModel:
    """A loaded transformers model (eval mode, float32) with its tokenizer and task."""

    model: Any
    tokenizer: Any
    task: Task
    name: str

    @property
    def model_type(self) -> str:
        return str(self.model.config.model_type)


def from_hf(source: str | Path | Any, task: str | Task = Task.TEXT_GENERATION, gguf_file: str | None = None,
            tokenizer: Any = None, trust_remote_code: bool = False) -> HFModel:
    """Load a local Hugging Face folder (or wrap an in-memory ``PreTrainedModel``).

    Nothing is downloaded (``local_files_only``); remote code runs only when asked for.

    Example:
        >>> lm = from_hf("SmolLM2", task="text-generation", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
        >>> lm.model_type
        'llama'
    """
    task = task if isinstance(task, Task) else Task.parse(task)
    if not isinstance(source, (str, Path)):
        return _wrap(source, tokenizer, task)
    folder = Path(source)
    _check_folder(folder, gguf_file)
    config = _config(folder, gguf_file, trust_remote_code)
    check_architecture(config, task)
    model = _load_model(folder, task, gguf_file, trust_remote_code)
    tok = tokenizer or _load_tokenizer(folder, gguf_file, trust_remote_code)
    return HFModel(model, tok, task, folder.name)


def check_architecture(config: Any, task: Task) -> None:
    """Refuse an architecture or a task edgepress has not tested, naming what it supports."""
    kind = str(getattr(config, "model_type", "?"))
    supported = DECODERS if task is Task.TEXT_GENERATION else ENCODERS
    if kind in supported:
        return
    other = Task.FEATURE_EXTRACTION if task is Task.TEXT_GENERATION else Task.TEXT_GENERATION
    if kind in (ENCODERS if task is Task.TEXT_GENERATION else DECODERS):
        raise BadInputError(f"a {kind} model does not fit --task {task.value}; use --task {other.value}")
    raise BadInputError(f"architecture {kind!r} is not supported for {task.value} (supported: {', '.join(supported)})")


def _wrap(model: Any, tokenizer: Any, task: Task) -> HFModel:
    if tokenizer is None:
        raise BadInputError("an in-memory model needs its tokenizer: from_hf(model, tokenizer=...)")
    check_architecture(model.config, task)
    return HFModel(model.float().eval(), tokenizer, task, str(getattr(model.config, "name_or_path", "") or model.config.model_type))


def _check_folder(folder: Path, gguf_file: str | None) -> None:
    if not folder.is_dir():
        raise ModelLoadError(f"--hf expects a Hugging Face model folder; {folder} is not a folder")
    if gguf_file is not None:
        if not (folder / gguf_file).is_file():
            raise ModelLoadError(f"GGUF file {gguf_file} not found in {folder}")
        return
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json: not a Hugging Face model folder (a GGUF file is given with --gguf)")
    if not any(any(folder.glob(pattern)) for pattern in _WEIGHT_FILES):
        raise ModelLoadError(f"{folder} has no weights (*.safetensors or pytorch_model.bin); save the model with save_pretrained")


def _config(folder: Path, gguf_file: str | None, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(folder, gguf_file=gguf_file, local_files_only=True, trust_remote_code=trust_remote_code)
    except ValueError as exc:  # transformers' word for an architecture or GGUF it does not know
        raise BadInputError(f"cannot read the model's configuration in {folder}: {_short(exc)}") from exc


def _load_model(folder: Path, task: Task, gguf_file: str | None, trust_remote_code: bool) -> Any:
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    auto = AutoModelForCausalLM if task is Task.TEXT_GENERATION else AutoModel
    try:
        model = auto.from_pretrained(folder, gguf_file=gguf_file, local_files_only=True, dtype=torch.float32,
                                     trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the model in {folder}: {_short(exc)}") from exc
    if getattr(model.config, "quantization_config", None) is not None and gguf_file:
        del model.config.quantization_config  # the weights are dequantized floats now; the GGUF note would mislead savers
    return model.eval()


def _load_tokenizer(folder: Path, gguf_file: str | None, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file, local_files_only=True, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the tokenizer in {folder}: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    from edgepress.errors import first_line

    return first_line(exc)


def save_float_folder(lm: HFModel, folder: Path) -> None:
    """``lm`` as a safetensors folder (what folder-reading exporters take), a GGUF-loaded model included.

    transformers dequantizes GGUF weights to float on load but keeps the model marked as
    GGUF-quantized, and ``save_pretrained`` refuses such a model; its weights are plain
    float tensors, so the mark is lifted for the save and put back.
    """
    model = lm.model
    marked = getattr(model, "hf_quantizer", None)
    is_gguf = marked is not None and type(marked).__name__ == "GgufHfQuantizer"
    if is_gguf:
        model.hf_quantizer = None
    try:
        model.save_pretrained(folder)
    finally:
        if is_gguf:
            model.hf_quantizer = marked
    lm.tokenizer.save_pretrained(folder)
