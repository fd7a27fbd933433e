"""Language model -> ONNX: a decoder with KV-cache inputs and outputs, an encoder with dynamic sequence length.

Optimum's exporter would be the first choice, but optimum-onnx pins transformers < 4.58 and
this environment's converters need transformers 5; so the model is wrapped here and exported
with torch.onnx's dynamo exporter. The layout is Optimum's and ONNX Runtime GenAI's:
``input_ids``, ``attention_mask``, ``past_key_values.N.key|value`` in; ``logits``,
``present.N.key|value`` out; batch 1 (on-device generation), sequence and cache length dynamic.

An artifact is a folder ``OUT/<stem>/``: ``<stem>.onnx`` (+ ``.onnx.data``), the tokenizer,
``config.json`` and ``generation_config.json``: the side files of one Artifact.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.lm.hf import HFModel, Task

OPSET = 18
MAX_LENGTH = 4096  # the largest prompt + cache length the exported shapes promise


def export_onnx(lm: HFModel, out_dir: Path, stem: str | None = None) -> Artifact:
    """Export ``lm`` to ``out_dir/<stem>/<stem>.onnx`` with its tokenizer beside it, written atomically.

    Example:
        >>> art = export_onnx(from_hf("SmolLM2", gguf_file="model.gguf"), Path("out"))
        >>> art.path.name
        'SmolLM2.onnx'
    """
    from edgepress.storage import staging_dir

    stem = stem or safe_stem(lm.name)
    with staging_dir(Path(out_dir)) as tmp:
        staged = tmp / stem
        staged.mkdir()
        _export(lm, staged / f"{stem}.onnx")
        save_companions(lm, staged)
        final = publish_folder(staged, Path(out_dir))
    return remember(describe(final / f"{stem}.onnx", lm.task, lineage=("convert.onnx",), report={"converter": _converter()}))


def publish_folder(staged: Path, out_dir: Path) -> Path:
    """Move a finished artifact folder from the staging area to ``out_dir``, replacing an older one of the same name."""
    final = out_dir / staged.name
    if final.exists():
        shutil.rmtree(final)
    staged.rename(final)  # same filesystem (the staging folder is inside out_dir): one rename
    return final


def remember(artifact: Artifact) -> Artifact:
    """Record the artifact's facts (lineage, quantization report) in its sidecar, as every converter does."""
    from edgepress.storage import rerecord

    return rerecord(artifact, "language-model")


def recall(artifact: Artifact) -> Artifact:
    """The facts edgepress recorded when it wrote this file (unchanged since), else the artifact as found."""
    from edgepress.quantization import read_recorded
    from edgepress.storage import recorded_facts

    assert artifact.path is not None
    facts = recorded_facts(artifact.path, artifact.sha256)
    if facts is None:
        return artifact
    quant, report = read_recorded(facts["format"], facts)
    return artifact.derive(lineage=tuple(facts.get("lineage", ())), report=report, quant=quant)


def save_companions(lm: HFModel, folder: Path) -> None:
    """Tokenizer, model config and generation config: what a runtime needs beside the graph."""
    lm.tokenizer.save_pretrained(folder)
    lm.model.config.save_pretrained(folder)
    if getattr(lm.model, "generation_config", None) is not None and lm.task is Task.TEXT_GENERATION:
        lm.model.generation_config.save_pretrained(folder)


def describe(path: Path, task: Task, lineage: tuple[str, ...] = (), report: dict[str, Any] | None = None) -> Artifact:
    """The Artifact of an exported folder: the graph is the path, every other file a side file."""
    import onnx

    from edgepress.converters.onnx import op_counts

    model = onnx.load(str(path), load_external_data=False)
    sides = sorted(p for p in path.parent.iterdir() if p != path and p.is_file())
    spec = InputSpec(tuple(_tensor(i) for i in model.graph.input))
    facts = {"task": task.value, "ops": op_counts(model)} | dict(report or {})
    return Artifact.from_file(path, Format.ONNX, spec, lineage=lineage, side_files=sides, report=facts)


def safe_stem(name: str) -> str:
    """A file-name stem from a model name: letters, digits, '-', '_' and '.' kept."""
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return kept or "model"


def _tensor(value: Any) -> TensorSpec:
    import onnx

    kind = value.type.tensor_type
    dims = tuple(d.dim_param or d.dim_value for d in kind.shape.dim)
    return TensorSpec(value.name, dims, onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name)


def _converter() -> str:
    import torch

    return f"torch.onnx {torch.__version__} (dynamo), edgepress wrapper"


def _export(lm: HFModel, path: Path) -> None:
    import torch

    from edgepress.converters.common import quiet_exporter

    module, args, names, outputs, dynamic = (_decoder if lm.task is Task.TEXT_GENERATION else _encoder)(lm)
    with quiet_exporter(), torch.no_grad():
        torch.onnx.export(module, args, str(path), dynamo=True, opset_version=OPSET, input_names=names, output_names=outputs,
                          dynamic_shapes=dynamic, external_data=True, verbose=False)
    _rename_dims(path)


def _decoder(lm: HFModel) -> tuple[Any, tuple[Any, ...], list[str], list[str], Any]:
    import torch
    from torch.export import Dim

    layers, kv_heads, head_dim = cache_shape(lm.model.config)
    seq, past = Dim("sequence", min=1, max=MAX_LENGTH), Dim("past", min=0, max=MAX_LENGTH)
    ids = torch.ones((1, 3), dtype=torch.int64)
    cache = tuple(torch.zeros((1, kv_heads, 2, head_dim)) for _ in range(2 * layers))
    mask = torch.ones((1, 5), dtype=torch.int64)
    names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    outputs = ["logits", *[n.replace("past_key_values", "present") for n in names]]
    dynamic = {"input_ids": {1: seq}, "attention_mask": {1: Dim.AUTO}, "past": tuple({2: past} for _ in cache)}
    return _Decoder(lm.model, layers).eval(), (ids, mask, *cache), ["input_ids", "attention_mask", *names], outputs, dynamic


def _encoder(lm: HFModel) -> tuple[Any, tuple[Any, ...], list[str], list[str], Any]:
    import torch
    from torch.export import Dim

    seq, batch = Dim("sequence", min=2, max=lm.model.config.max_position_embeddings), Dim("batch", min=1, max=1024)
    names = ["input_ids", "attention_mask"]
    args = (torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64))
    dynamic = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    return hidden_states_module(lm.model), args, names, ["last_hidden_state"], dynamic


def hidden_states_module(model: Any) -> Any:
    """An encoder as ``forward(input_ids, attention_mask) -> last_hidden_state`` (what every format exports)."""
    return _Encoder(model).eval()


def cache_shape(config: Any) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of a decoder's KV cache."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, getattr(config, "num_key_value_heads", None) or heads, head_dim


def _rename_dims(path: Path) -> None:
    """Name the attention mask's length 'total' (the exporter calls it e.g. 's53')."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for value in model.graph.input:
        if value.name == "attention_mask":
            value.type.tensor_type.shape.dim[-1].dim_param = "total"
    onnx.save(model, str(path))  # the graph only: the weights stay in the .onnx.data written beside it


class _Decoder:
    """Built on first use so this module imports without torch."""

    def __new__(cls, model: Any, layers: int) -> Any:
        return _decoder_module()(model, layers)


class _Encoder:
    def __new__(cls, model: Any) -> Any:
        return _encoder_module()(model)


def _decoder_module() -> type:
    import torch
    from transformers import DynamicCache

    class DecoderWithCache(torch.nn.Module):
        """Past keys/values as flat tensors in, present ones out (ONNX has no Python cache objects)."""

        def __init__(self, model: Any, layers: int) -> None:
            super().__init__()
            self.model, self.layers = model, layers

        def forward(self, input_ids: Any, attention_mask: Any, *past: Any) -> tuple[Any, ...]:
            cache = DynamicCache(config=self.model.config)
            for i in range(self.layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, cache=cache, use_cache=True)
            present = [t for layer in out.past_key_values.layers[: self.layers] for t in (layer.keys, layer.values)]
            return (out.logits, *present)

    return DecoderWithCache


def _encoder_module() -> type:
    import torch

    class EncoderHiddenStates(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return EncoderHiddenStates
