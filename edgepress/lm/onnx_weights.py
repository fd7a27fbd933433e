"""Weight-only (INT4, INT8) and dynamic INT8 quantization of an exported language model, with ONNX Runtime.

INT4 and INT8 weight-only use ORT's ``MatMulNBitsQuantizer`` (``MatMulNBits`` and
``GatherBlockQuantized`` contrib ops). In INT4 the embedding table and the LM head stay
8-bit by default: they hold a large share of a small model's weights and most of its
sensitivity. ``accuracy_level=4`` lets the CPU kernels compute with int8 activations
(the fast path with AVX2, VNNI and Arm dot-product instructions). Every weight left in
float is listed with the reason in the artifact's report.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact
from edgepress.errors import BadInputError
from edgepress.quantization import Mode, QuantSpec, WeightMethod, record

ACCURACY_LEVEL_INT8 = 4  # MatMulNBits: int8 compute (ORT's CPU fast path)
GROUP_SIZES = (16, 32, 64, 128, 256)  # the blocks ONNX Runtime's MatMulNBits takes; the same set for every format


def quantize_onnx(source: Artifact, spec: QuantSpec, out_dir: Path, stem: str, calibration: Calibration | None = None) -> Artifact:
    """Quantize an exported language-model folder into ``out_dir/<stem>/`` (written atomically).

    Example:
        >>> art = quantize_onnx(fp32, QuantSpec(Mode.INT4, group_size=32), Path("out"), "smollm2_int4")
        >>> art.report["quantization"]["float_weights"]
        []
    """
    import onnx

    from edgepress.lm.genai_builder import point_genai_config
    from edgepress.lm.onnx_export import describe, publish_folder, remember
    from edgepress.storage import staging_dir

    assert source.path is not None  # exported artifacts are files
    model = onnx.load(str(source.path))  # with its weights: the quantizers need them
    check_widths({shape[0] for _, shape in _weight_matmuls(model)}, spec)
    with staging_dir(Path(out_dir)) as tmp:
        staged = tmp / stem
        staged.mkdir()
        facts = _quantize(model, spec, staged / f"{stem}.onnx", calibration)
        _copy_companions(source, staged)
        point_genai_config(staged, f"{stem}.onnx")
        final = publish_folder(staged, Path(out_dir))
    task = _task(source)
    report = {"converter": source.report.get("converter", "")} | record(spec, facts)
    made = describe(final / f"{stem}.onnx", task, lineage=(*source.lineage, f"quantize.{spec.mode.value}"), report=report)
    return remember(made.derive(quant=spec))


def check_widths(widths: set[int], spec: QuantSpec) -> None:
    """A weight-only group size must be a supported block and divide at least one layer's input width."""
    if not spec.weight_only:
        return
    if spec.group_size not in GROUP_SIZES:
        raise BadInputError(f"--group-size {spec.group_size} is not a group size edgepress takes in any format ({', '.join(map(str, GROUP_SIZES))})")
    if widths and not any(w % spec.group_size == 0 for w in widths):
        raise BadInputError(f"--group-size {spec.group_size} divides no layer's input width ({', '.join(map(str, sorted(widths)))}); choose a divisor of one of them")


def _quantize(model: Any, spec: QuantSpec, path: Path, calibration: Calibration | None) -> dict[str, Any]:
    import onnx

    fold_weight_transposes(model)
    head = lm_head(model)
    if spec.mode is Mode.INT8_DYNAMIC:
        _dynamic(model, path)
        return {"quantizer": "onnxruntime quantize_dynamic", "float_weights": float_weights(onnx.load(str(path)))}
    widths = dict(_weight_matmuls(model))
    extra: dict[str, Any] = {}
    if spec.weight_method is WeightMethod.GPTQ:
        if calibration is None:
            raise BadInputError("--method gptq needs calibration text (quantize_lm gives it; quantize_onnx needs calibration=)")
        model = _gptq(model, spec, head, calibration)
        extra = {"calibration": calibration.describe()}
    elif spec.mode is Mode.INT4:
        model = _nbits(model, 4, spec, exclude=[head] if head else [])
        if head:
            model = _nbits(model, 8, spec, include=[head], method=WeightMethod.RTN)
    else:
        model = _nbits(model, 8, spec)
    embedding = int8_embedding(model)
    onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data", size_threshold=1024)
    padded = sorted(name for name, shape in widths.items() if shape[0] % spec.group_size)
    return {"quantizer": "onnxruntime MatMulNBitsQuantizer", "accuracy_level": ACCURACY_LEVEL_INT8, "lm_head": lm_head(model), "lm_head_bits": 8 if head else None,
            "embedding": embedding, "embedding_bits": 8 if embedding else None,
            "padded_to_group": padded, "float_weights": float_weights(model), **extra}


def _nbits(model: Any, bits: int, spec: QuantSpec, include: list[str] | None = None, exclude: list[str] | None = None,
           method: WeightMethod | None = None) -> Any:
    """One MatMulNBitsQuantizer pass: all MatMuls (and Gathers when ``include`` names them), or just ``include``."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig, HQQWeightOnlyQuantConfig, MatMulNBitsQuantizer)

    ops = ("MatMul",)  # embedding tables: int8_embedding (ORT's GatherBlockQuantized takes 4 bits only)
    if (method or spec.weight_method) is WeightMethod.HQQ:
        config: Any = HQQWeightOnlyQuantConfig(block_size=spec.group_size, bits=bits, op_types_to_quantize=ops)
    else:
        config = DefaultWeightOnlyQuantConfig(block_size=spec.group_size, is_symmetric=False, accuracy_level=ACCURACY_LEVEL_INT8,
                                              op_types_to_quantize=ops, bits=bits)
    quantizer = MatMulNBitsQuantizer(model, bits=bits, block_size=spec.group_size, accuracy_level=ACCURACY_LEVEL_INT8,
                                     nodes_to_include=include, nodes_to_exclude=exclude or [], op_types_to_quantize=ops, algo_config=config)
    quantizer.process()
    return quantizer.model.model


@dataclass(frozen=True)
class Calibration:
    """Token windows GPTQ runs the float model on, and where they came from (for the report)."""

    windows: list[list[int]]
    source: str

    def describe(self) -> dict[str, Any]:
        return {"text": self.source, "windows": len(self.windows), "tokens": sum(len(w) for w in self.windows)}


def _gptq(model: Any, spec: QuantSpec, head: str | None, calibration: Calibration) -> Any:
    """GPTQ (``edgepress.lm.gptq``) on every weight MatMul but the LM head, which is 8-bit RTN first, as in plain INT4."""
    import numpy as np

    from edgepress.lm.gptq import gptq_model

    if head:
        model = _nbits(model, 8, spec, exclude=[n.name for n in model.graph.node if n.op_type == "MatMul" and n.name != head], method=WeightMethod.RTN)
    past = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input if i.name.startswith("past_key_values.")]
    feeds = [{"input_ids": np.asarray([w], np.int64), "attention_mask": np.ones((1, len(w)), np.int64),
              **{name: np.zeros((1, dims[1], 0, dims[3]), np.float32) for name, dims in past}}  # no past: each window starts a sequence
             for w in calibration.windows]
    return gptq_model(model, feeds, spec.group_size, ACCURACY_LEVEL_INT8)


def _dynamic(model: Any, path: Path) -> None:
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        plain = Path(tmp) / "float.onnx"
        onnx.save(model, str(plain), save_as_external_data=True, location="float.onnx.data")
        quantize_dynamic(str(plain), str(path), weight_type=QuantType.QInt8, per_channel=True, use_external_data_format=True)


def fold_weight_transposes(model: Any) -> None:
    """Replace Transpose(constant 2-D weight) by the transposed constant.

    A model with tied embeddings exports its LM head as MatMul(x, Transpose(table)); the
    quantizers only take constant weights, so the head would silently stay float. Folding
    gives the head its own (transposed) copy, as an untied model has.
    """
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    for node in [n for n in model.graph.node if n.op_type == "Transpose" and n.input[0] in inits]:
        weights = numpy_helper.to_array(inits[node.input[0]])
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        if weights.ndim != 2 or perm not in (None, [1, 0]):
            continue
        model.graph.initializer.append(numpy_helper.from_array(weights.T.copy(), node.output[0]))
        model.graph.node.remove(node)


def int8_embedding(model: Any) -> str | None:
    """Store the token-embedding table as int8 rows with one scale each; returns the Gather's name (None: none found).

    Written by hand: ORT's weight-only quantizer makes 4-bit ``GatherBlockQuantized`` only,
    and ``quantize_dynamic`` dequantizes the whole table on every call. Here only the
    gathered rows are dequantized: Gather(int8 table) and Gather(scales), then Cast and Mul.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    name = _embedding(model)
    node = next((n for n in model.graph.node if n.name == name), None)
    table = next((i for i in model.graph.initializer if node is not None and i.name == node.input[0]), None)
    if node is None or table is None or sum(node.input[0] in n.input for n in model.graph.node) > 1:
        return None  # no embedding, or its table is shared with another node: left as it is (and listed as float)
    weights = numpy_helper.to_array(table).astype(np.float32)
    scale = np.maximum(np.abs(weights).max(axis=1), 1e-12) / 127.0
    q = np.clip(np.rint(weights / scale[:, None]), -127, 127).astype(np.int8)
    base = node.input[0]
    model.graph.initializer.remove(table)
    model.graph.initializer.extend([numpy_helper.from_array(q, base + "_int8"), numpy_helper.from_array(scale.astype(np.float32), base + "_scale"),
                                    numpy_helper.from_array(np.array([-1], dtype=np.int64), base + "_last_axis")])
    out, ids = node.output[0], node.input[1]
    new = [helper.make_node("Gather", [base + "_int8", ids], [out + "_q"], name=name + "_q"),
           helper.make_node("Gather", [base + "_scale", ids], [out + "_s"], name=name + "_scale"),
           helper.make_node("Cast", [out + "_q"], [out + "_f"], to=onnx.TensorProto.FLOAT, name=name + "_cast"),
           helper.make_node("Unsqueeze", [out + "_s", base + "_last_axis"], [out + "_s1"], name=name + "_unsqueeze"),
           helper.make_node("Mul", [out + "_f", out + "_s1"], [out], name=name)]
    index = list(model.graph.node).index(node)
    model.graph.node.remove(node)
    for offset, made in enumerate(new):
        model.graph.node.insert(index + offset, made)
    return name


def lm_head(model: Any) -> str | None:
    """The MatMul that makes ``logits`` (directly, or through a Reshape/Cast the exporter put after it)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    node = producers.get("logits")
    while node is not None and node.op_type not in ("MatMul", "Gemm", "MatMulNBits"):
        node = producers.get(node.input[0])
    return node.name if node is not None else None


def _embedding(model: Any) -> str | None:
    """The Gather that reads ``input_ids`` from a weight table."""
    weights = {i.name for i in model.graph.initializer}
    return next((n.name for n in model.graph.node if n.op_type == "Gather" and n.input[0] in weights and n.input[1] == "input_ids"), None)


def _weight_matmuls(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    return [(n.name, shapes[n.input[1]]) for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in shapes and len(shapes[n.input[1]]) == 2]


def float_weights(model: Any) -> list[dict[str, Any]]:
    """Weight matrices (MatMul, Gemm, Gather tables) still float after quantization, each with the reason."""
    import onnx

    floats = {i.name: tuple(i.dims) for i in model.graph.initializer if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)}
    left = []
    for node in model.graph.node:
        weight = node.input[1] if node.op_type in ("MatMul", "Gemm") else node.input[0] if node.op_type == "Gather" else None
        if weight in floats and len(floats[weight]) == 2 and min(floats[weight]) > 1:
            left.append({"node": node.name, "op": node.op_type, "shape": list(floats[weight]), "reason": _reason(node.op_type)})
    return left


def _reason(op: str) -> str:
    if op == "Gather":
        return "a lookup table shared with another node, or not the token embedding: left as exported"
    return "ONNX Runtime's quantizer left this product in float (its weight is not a plain 2-D constant it handles)"


def _copy_companions(source: Artifact, folder: Path) -> None:
    """Tokenizer and configs travel with every artifact made from the export."""
    assert source.path is not None
    for side in source.side_files:
        if not side.name.startswith(source.path.name):  # the graph's own weight file is rewritten, not copied
            shutil.copy2(side, folder / side.name)


def _task(source: Artifact) -> Any:
    from edgepress.lm.hf import Task

    return Task(source.report.get("task", Task.TEXT_GENERATION.value))
