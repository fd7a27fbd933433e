"""Encoder -> TFLite or ExecuTorch ``.pte``: ``forward(input_ids, attention_mask) -> last_hidden_state``, batch 1.

TFLite (litert-torch) takes a fixed shape: the sequence is ``SEQUENCE`` tokens, shorter
inputs are padded and masked (the runner does it). The ``.pte`` (torch.export, XNNPACK)
keeps the sequence length dynamic up to the model's position limit. Quantization is the
format's own, as for decoders: ai-edge-quantizer's recipes on TFLite, ExecuTorch's LLM
quantizer (torchao) on the ``.pte`` before export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.lm.hf import HFModel, Task
from edgepress.quantization import QuantSpec, record

SEQUENCE = 128  # the TFLite encoder's fixed sequence length (the length the benchmark times)


def export_encoder(lm: HFModel, fmt: Format, out_dir: Path, stem: str, spec: QuantSpec | None = None) -> Artifact:
    """Write ``out_dir/<stem>/<stem>.tflite|.pte`` with the tokenizer and config beside it (atomically).

    Example:
        >>> art = export_encoder(from_hf("MiniLM", task="feature-extraction"), Format.TFLITE, Path("out"), "minilm_tflite")
        >>> art.report["max_length"]
        128
    """
    import copy

    from edgepress.lm.onnx_export import hidden_states_module, publish_folder, remember, save_companions
    from edgepress.storage import staging_dir

    model = copy.deepcopy(lm.model)  # quantization changes the model in place
    with staging_dir(Path(out_dir)) as tmp:
        staged = tmp / stem
        staged.mkdir()
        path = staged / f"{stem}{'.tflite' if fmt is Format.TFLITE else '.pte'}"
        if fmt is Format.TFLITE:
            facts, limit = _tflite(hidden_states_module(model), path, spec), SEQUENCE
        else:
            facts, limit = _pte(model, path, spec), int(model.config.max_position_embeddings)
        save_companions(lm, staged)
        final = publish_folder(staged, Path(out_dir))
    path = final / path.name
    sides = sorted(p for p in final.iterdir() if p != path and p.is_file())
    dtype = "int32" if fmt is Format.TFLITE else "int64"  # TFLite narrows token ids to int32
    spec_in = InputSpec(tuple(TensorSpec(name, (1, "sequence"), dtype) for name in ("input_ids", "attention_mask")))
    report = {"task": Task.FEATURE_EXTRACTION.value, "converter": _converter(fmt), "max_length": limit, **record(spec, facts)}
    lineage = (f"convert.{fmt.value}",) + ((f"quantize.{spec.mode.value}",) if spec else ())
    return remember(Artifact.from_file(path, fmt, spec_in, lineage=lineage, side_files=sides, report=report, quant=spec))


def _tflite(module: Any, path: Path, spec: QuantSpec | None) -> dict[str, Any]:
    import litert_torch
    import torch

    from edgepress.converters.common import quiet_exporter
    from edgepress.lm.tflite_export import quantize_tflite

    example = (torch.ones((1, SEQUENCE), dtype=torch.long), torch.ones((1, SEQUENCE), dtype=torch.long))
    plain = path.with_name("float.tflite") if spec is not None else path
    with quiet_exporter(), torch.no_grad():
        litert_torch.convert(module, example).export(str(plain))
    if spec is None:
        return {}
    facts = quantize_tflite(plain, spec, path)
    plain.unlink()
    return facts


def _pte(model: Any, path: Path, spec: QuantSpec | None) -> dict[str, Any]:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from torch.export import Dim

    from edgepress.converters.common import quiet_exporter
    from edgepress.lm.executorch_export import quantize_torch
    from edgepress.lm.onnx_export import hidden_states_module

    facts = quantize_torch(model, spec) if spec is not None else {}
    sequence = Dim("sequence", min=2, max=int(model.config.max_position_embeddings))
    example = (torch.ones((1, 8), dtype=torch.long), torch.ones((1, 8), dtype=torch.long))
    with quiet_exporter(), torch.no_grad():
        program = torch.export.export(hidden_states_module(model), example,
                                      dynamic_shapes={"input_ids": {1: sequence}, "attention_mask": {1: sequence}})
        path.write_bytes(to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
    return facts


def _converter(fmt: Format) -> str:
    from importlib.metadata import version

    if fmt is Format.TFLITE:
        return f"litert-torch {version('litert-torch')} (fixed sequence {SEQUENCE})"
    return f"torch.export + ExecuTorch {version('executorch')} XNNPACK (dynamic sequence)"
