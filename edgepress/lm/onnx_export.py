"""Language model -> ONNX: a decoder with KV-cache inputs and outputs, an encoder with dynamic sequence length.

Decoders go through ONNX Runtime GenAI's model builder (``edgepress.lm.genai_builder``):
fused attention and norms, the layout ``input_ids``, ``attention_mask``,
``past_key_values.N.key|value`` in; ``logits``, ``present.N.key|value`` out; sequence and
cache length dynamic. Encoders: Optimum's exporter would be the first choice, but
optimum-onnx pins transformers < 4.58 and this environment's converters need transformers 5;
so the encoder is wrapped here and exported with torch.onnx's dynamo exporter.

An artifact is a folder ``OUT/<stem>/``: ``<stem>.onnx`` (+ ``.onnx.data``), the tokenizer,
``config.json`` and ``generation_config.json`` (decoders also ``genai_config.json``): the side
files of one Artifact.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.lm.hf import HFModel, Task

OPSET = 18


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
    return remember(describe(final / f"{stem}.onnx", lm.task, lineage=("convert.onnx",), report={"converter": _converter(lm.task)}))


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


def _converter(task: Task) -> str:
    import torch

    from edgepress.lm.genai_builder import builder_version

    return builder_version() if task is Task.TEXT_GENERATION else f"torch.onnx {torch.__version__} (dynamo), edgepress wrapper"


def _export(lm: HFModel, path: Path) -> None:
    import torch

    from edgepress.converters.common import quiet_exporter
    from edgepress.lm.genai_builder import build_decoder

    if lm.task is Task.TEXT_GENERATION:
        build_decoder(lm, path, cache_shape(lm.model.config)[2])
        return
    module, args, names, outputs, dynamic = _encoder(lm)
    with quiet_exporter(), torch.no_grad():
        torch.onnx.export(module, args, str(path), dynamo=True, opset_version=OPSET, input_names=names, output_names=outputs,
                          dynamic_shapes=dynamic, external_data=True, verbose=False)


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


class _Encoder:
    def __new__(cls, model: Any) -> Any:
        return _encoder_module()(model)


def _encoder_module() -> type:
    import torch

    class EncoderHiddenStates(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return EncoderHiddenStates
