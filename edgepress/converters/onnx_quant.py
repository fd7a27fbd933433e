"""ONNX's side of quantization: ONNX Runtime's quantizers, for ONNX files and for quantized handles.

An ONNX file is quantized by the ``quantize.*`` passes (``compress/quantize.py``) through
``quantize_static`` / ``quantize_dynamic`` / ``to_fp16``; a quantized PyTorch or Keras
handle is exported in float, then ``quantize_exported`` lowers its QuantSpec here
(``qat``: the export already carries QDQ nodes; only its names are compacted).

Static quantization runs ORT's recommended pre-processing (shape inference and graph
optimisation) first, then ``quantize_static`` in QDQ form. The defaults are the ones
ORT's x86 and Arm kernels run fastest and most accurately: uint8 activations, int8
per-channel weights. Every static result carries a per-layer sensitivity report.

Three defaults protect accuracy on image models:

- Activation ranges clip at the 99.99th percentile (``percentile``) rather than the
  observed min/max. On MobileNetV2 (300 calibration crops, two evaluation sets of 500
  crops each) min-max reached 96.7% and 96.5% top-1 agreement with float on the
  confident crops; the 99.99th percentile reached 98.6% and 99.1%, fused kernels and
  exact QDQ simulation alike. ORT's own percentile default (99.999) gave 97.6%.
- The first convolutions stay float while they are tiny (``leading_convs``): in
  MobileNet-like models the stem conv and the first depthwise carry most of the INT8
  error for a fraction of a percent of the weights (the same rule as ``tflite_quant``).
- Layers that still read the model's input directly get 7-bit weights
  (``reduce_range``). On x86 CPUs without VNNI, ORT's U8S8 kernels add pairs of
  uint8 x int8 products in 16 bits (VPMADDUBSW), which saturates when full-range input
  pixels meet a first conv's large weights; simulating the same quantization without
  the fused kernels shows no loss from the dropped bit there. Deeper layers read ReLU
  outputs that rarely come near the top of the uint8 range and keep 8 bits.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress.data import batches
from edgepress.errors import BadInputError
from edgepress.quantization import DEFAULT_PERCENTILE, Mode, QuantSpec

if TYPE_CHECKING:
    import numpy as np

# Operators whose weights ORT quantizes; a model with none of them cannot be quantized.
QUANTIZABLE_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "Attention", "LSTM", "GRU", "Gather"})
SENSITIVITY_SAMPLES = 16


@dataclass(frozen=True)
class StaticOptions:
    """What ``quantize_static`` is asked to do (plain values; the pass holds the Enums)."""

    method: str = "percentile"  # percentile | minmax | entropy
    per_channel: bool = True
    activations: str = "uint8"  # uint8 | int8 | int16
    keep_float: tuple[str, ...] = ()  # node names left in float
    input_layers_7bit: bool = True  # see the module docstring: avoids U8S8 saturation on AVX2
    leading_float: bool = True  # the first convolutions stay float while tiny (see leading_convs)
    percentile: float = DEFAULT_PERCENTILE
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: QuantSpec) -> StaticOptions:
        """The options a static QuantSpec asks of ONNX Runtime."""
        return cls(spec.calibration.value, spec.per_channel, spec.activations.value, spec.keep_float, spec.input_layers_7bit, spec.leading_float, spec.percentile)

    def to_dict(self) -> dict[str, Any]:
        clip = {"percentile": self.percentile} if self.method == "percentile" else {}
        return {"method": self.method, **clip, "per_channel": self.per_channel, "activations": self.activations, "keep_float": list(self.keep_float), "input_layers_7bit": self.input_layers_7bit, "leading_float": self.leading_float}


def check_quantizable(path: Path) -> None:
    """Refuse a model with no layer ORT quantizes (no Conv, MatMul, Gemm, ...)."""
    ops = {n.op_type for n in _graph(path).node}
    if not ops & QUANTIZABLE_OPS:
        raise BadInputError(
            f"the model has no quantizable layers (found ops: {', '.join(sorted(ops)) or 'none'}; "
            f"expected one of {', '.join(sorted(QUANTIZABLE_OPS))}); quantize a model with conv, linear or matmul layers"
        )


def preprocess(src: Path, dst: Path) -> str | None:
    """ORT's quantization pre-processing; on failure copy the model and say why (or None if fine)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        return None
    except Exception as exc:  # pre-processing is an optimisation: quantization works without it
        shutil.copyfile(src, dst)
        return f"pre-processing skipped: {type(exc).__name__}: {str(exc)[:200]}"


def quantize_static(src: Path, dst: Path, inputs: tuple[np.ndarray, ...], names: tuple[str, ...], opts: StaticOptions) -> dict[str, Any]:
    """Static QDQ quantization of ``src`` into ``dst``; returns the report (with sensitivity)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_static

    check_quantizable(src)
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}
    act = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8, "int16": QuantType.QInt16}[opts.activations]
    extra = dict(opts.extra)
    with tempfile.TemporaryDirectory(prefix="edgepress-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        note = preprocess(src, pre)
        graph = _graph(pre)  # read once for both rules below
        leading = leading_convs(graph) if opts.leading_float else []
        seven_bit = input_layer_weights(graph, skip=frozenset(leading)) if opts.input_layers_7bit and opts.activations == "uint8" else []
        extra = {**extra, "TensorQuantOverrides": {**{w: [{"reduce_range": True}] for w in seven_bit}, **extra.get("TensorQuantOverrides", {})}}
        reader, cache = ort_reader(inputs, names, static_batch(graph)), None
        if opts.method == "percentile":  # ORT's own percentile calibrator holds every activation in memory
            runs = -(-int(inputs[0].shape[0]) // static_batch(graph))
            reader, cache = None, _percentile_cache(pre, reader, runs, opts.percentile, Path(tmp))
        with contextlib.redirect_stdout(io.StringIO()):  # ORT's histogram calibrators print progress to stdout
            ort_static(
                str(pre), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=opts.per_channel,
                activation_type=act, weight_type=QuantType.QInt8, calibrate_method=methods[opts.method],
                nodes_to_exclude=[*opts.keep_float, *leading] or None, extra_options=extra, calibration_cache_path=cache,
            )
        report = {"quantizer": "onnxruntime quantize_static (QDQ)", **opts.to_dict(), "weights": "int8", "samples": int(inputs[0].shape[0])}
        report["weights_7bit"], report["float_ops"] = seven_bit, leading
        report["sensitivity"] = sensitivity(pre, dst, inputs, names)
    report["names_compacted_bytes"] = compact_names(dst)
    return report | ({"note": note} if note else {})


def _percentile_cache(model: Path, reader: Any, runs: int, percentile: float, tmp: Path) -> Path:
    """Streamed percentile ranges (``onnx_calibration``) written as ORT's calibration cache."""
    from onnxruntime.quantization.calibrate import save_tensors_data

    from edgepress.converters.onnx_calibration import percentile_ranges

    cache = tmp / "ranges.json"
    save_tensors_data(percentile_ranges(model, iter(reader.get_next, None), runs, percentile), cache)
    return cache


def static_batch(graph: Any) -> int:
    """The fixed batch of the graph's first input (an export at batch 4 takes only 4); 1 when dynamic."""
    dims = graph.input[0].type.tensor_type.shape.dim if graph.input else []
    return int(dims[0].dim_value) if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0 else 1


def _graph(path: Path) -> Any:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph


def input_layer_weights(graph: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    """Weight initializers of the Conv/Gemm/MatMul nodes (not in ``skip``) that read a graph input directly."""
    initializers = {i.name for i in graph.initializer}
    inputs = {i.name for i in graph.input} - initializers
    return [
        n.input[1] for n in graph.node
        if n.op_type in ("Conv", "Gemm", "MatMul") and n.name not in skip and len(n.input) > 1 and n.input[0] in inputs and n.input[1] in initializers
    ]


def leading_convs(graph: Any) -> list[str]:
    """Names of the first Conv nodes kept in float: up to two, while they hold <= 1% of the weights.

    The same rule as the TFLite path (``tflite_quant.within_share``): in MobileNet-like
    models the stem conv and the first depthwise carry most of the INT8 error for a tiny
    share of the weights; on a small net whose first convs are a large share of the model
    nothing is kept, so the file stays small.
    """
    import math

    from edgepress.converters.tflite_quant import within_share

    sizes = {i.name: math.prod(i.dims) for i in graph.initializer}
    convs = ((n.name, sizes.get(n.input[1], 0)) for n in graph.node if n.op_type == "Conv" and len(n.input) > 1)
    return within_share(convs, sum(sizes.values()))


def quantize_dynamic(src: Path, dst: Path, per_channel: bool = True) -> dict[str, Any]:
    """Dynamic quantization: int8 weights, activations quantized at run time (transformers, LSTMs)."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_dynamic

    check_quantizable(src)
    with tempfile.TemporaryDirectory(prefix="edgepress-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        note = preprocess(src, pre)
        ort_dynamic(str(pre), str(dst), per_channel=per_channel, weight_type=QuantType.QInt8)
    report = {"quantizer": "onnxruntime quantize_dynamic", "per_channel": per_channel, "weights": "int8", "activations": "dynamic uint8"}
    return report | ({"note": note} if note else {})


def to_fp16(src: Path, dst: Path) -> dict[str, Any]:
    """Float16 weights and compute, float32 inputs and outputs kept (ORT's float16 converter)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return {"quantizer": "onnxruntime.transformers.float16 (keep_io_types)", "weights": "float16"}


def sensitivity(float_path: Path, qdq_path: Path, inputs: tuple[np.ndarray, ...], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per-layer SQNR (dB) of the quantized model's activations against float, worst first.

    ``local_sqnr_db`` is the error one layer's own quantization adds (its float output
    against that output quantized); ``sqnr_db`` is the accumulated error at that layer
    (float model against quantized model). ORT's ``qdq_loss_debug`` pairs the tensors;
    its SQNR over all samples is summed here one sample at a time, since collecting every
    activation of both models first took 2.2 GB on MobileNetV2.
    """
    from onnxruntime.quantization import qdq_loss_debug as dbg

    few = tuple(a[:SENSITIVITY_SAMPLES] for a in inputs)
    with tempfile.TemporaryDirectory(prefix="edgepress-sens-") as tmp:
        aug_f, aug_q = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        dbg.modify_model_output_intermediate_tensors(str(float_path), str(aug_f), save_as_external_data=False)
        dbg.modify_model_output_intermediate_tensors(str(qdq_path), str(aug_q), save_as_external_data=False)
        float_run, qdq_run = _activations(aug_f), _activations(aug_q)
        sums: dict[str, dict[str, np.ndarray]] = {}
        for batch in batches(few, static_batch(_graph(float_path))):
            feed = dict(zip(names, batch))
            matched = dbg.create_activation_matching(qdq_run(feed), float_run(feed))
            for tensor, errors in dbg.compute_activation_error(matched, err_func=_squares).items():
                slot = sums.setdefault(tensor, {})
                for kind, pair in errors.items():
                    slot[kind] = slot.get(kind, 0) + pair
        producers = _producers(float_path)
    rows = [
        {"layer": producers[t][1], "op": producers[t][0], "tensor": t, "sqnr_db": _sqnr(e.get("xmodel_err")), "local_sqnr_db": _sqnr(e.get("qdq_err"))}
        for t, e in sums.items() if t in producers
    ]
    # ORT returns the tensors in set order (it changes from run to run): ties go to graph order.
    order = {t: i for i, t in enumerate(producers)}
    return sorted(rows, key=lambda r: (_or_top(r["local_sqnr_db"]), _or_top(r["sqnr_db"]), order[r["tensor"]]))


def _activations(augmented: Path) -> Any:
    """A function from one feed to ``{tensor: [array]}``, as ``qdq_loss_debug.collect_activations`` returns
    for one batch (its session is made once; graph optimisations off, as there, so QDQ pairs stay)."""
    import onnxruntime as ort
    from onnxruntime.quantization import qdq_loss_debug as dbg

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(augmented), options, providers=["CPUExecutionProvider"])
    suffix = dbg._TENSOR_SAVE_POSTFIX  # how ORT marks the tensors it exposed
    outputs = [o.name for o in session.get_outputs()]
    return lambda feed: {n[: -len(suffix)]: [v] for n, v in zip(outputs, session.run(None, feed)) if n.endswith(suffix)}


def _squares(x: list[np.ndarray], y: list[np.ndarray]) -> np.ndarray:
    """The two sums behind ORT's SQNR over a batch: ``[sum x^2, sum (x - y)^2]``."""
    import numpy as np

    left, right = np.concatenate(x).ravel(), np.concatenate(y).ravel()
    diff = left - right
    return np.array([np.dot(left, left), np.dot(diff, diff)], np.float64)


def _sqnr(sums: np.ndarray | None) -> float | None:
    """ORT's ``compute_signal_to_quantization_noice_ratio`` from the summed squares, rounded."""
    import math
    import sys

    if sums is None:
        return None
    eps = sys.float_info.epsilon  # numpy's finfo("float").eps, the floor ORT puts under both norms
    ratio = max(math.sqrt(sums[0]), eps) / max(math.sqrt(sums[1]), eps)
    return _db(20 * math.log10(ratio))


def _or_top(db: float | None) -> float:
    return db if db is not None else 1e9


def _producers(path: Path) -> dict[str, tuple[str, str]]:
    graph = _graph(path)
    return {out: (n.op_type, n.name) for n in graph.node for out in n.output}


def _db(value: Any) -> float | None:
    import math

    if value is None:
        return None
    value = float(value)
    return round(value, 2) if math.isfinite(value) else 999.0


def quantize_exported(spec: QuantSpec, path: Path) -> dict[str, Any]:
    """Quantize a handle's float ONNX export in place as its QuantSpec says; returns the quantizer's report entries."""
    with tempfile.TemporaryDirectory(prefix="edgepress-quant-") as tmp:
        out = Path(tmp) / path.name
        report = EXPORT_LOWERINGS[spec.mode](spec, path, out)
        shutil.move(str(out), str(path))
    return report


def _exported_static(spec: QuantSpec, src: Path, dst: Path) -> dict[str, Any]:
    from edgepress.data import stored_inputs

    graph = _graph(src)
    initializers = {i.name for i in graph.initializer}
    names = tuple(i.name for i in graph.input if i.name not in initializers)
    assert spec.data is not None  # a static handle always stores its samples (quantize.model_handle)
    return quantize_static(src, dst, stored_inputs(spec.data), names, StaticOptions.of(spec))


def _exported_trained(spec: QuantSpec, src: Path, dst: Path) -> dict[str, Any]:
    """Already quantized while training: the export carries QDQ nodes. The exporter's per-node
    names and stack traces weigh as much as the int8 weights here."""
    shutil.copyfile(src, dst)
    return {"names_compacted_bytes": compact_names(dst)}


EXPORT_LOWERINGS = {
    Mode.INT8_STATIC: _exported_static,
    Mode.INT8_DYNAMIC: lambda spec, src, dst: quantize_dynamic(src, dst, spec.per_channel),
    Mode.FP16: lambda spec, src, dst: to_fp16(src, dst),
    Mode.QAT: _exported_trained,
}


def ort_reader(inputs: tuple[np.ndarray, ...], names: tuple[str, ...], batch: int = 1) -> Any:
    """An ONNX Runtime ``CalibrationDataReader`` over the samples in ``batch``-sized chunks, feeding inputs by name."""
    from onnxruntime.quantization import CalibrationDataReader

    class ArrayReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = batches(inputs, batch)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else dict(zip(names, batch))

        def rewind(self) -> None:
            self._it = batches(inputs, batch)

    return ArrayReader()


def compact_names(path: Path) -> int:
    """Rename internal tensors and nodes to short ids and drop per-node debug metadata, in place.

    Returns the bytes saved.

    Exporters and the quantizer name every tensor after its module path
    (``head.0.weight_DequantizeLinear_Output``); on a small model those names weigh as
    much as the int8 weights. Graph inputs and outputs keep their names; graphs with
    subgraphs (If, Loop) are left as they are.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return 0
    before = path.stat().st_size
    keep = {v.name for v in (*graph.input, *graph.output)}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for init in graph.initializer:
        init.name = short(init.name)
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        node.doc_string = ""
        del node.metadata_props[:]  # the exporter's stack traces and module paths
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    for info in graph.value_info:
        info.name = short(info.name)
    onnx.save(model, str(path))
    return before - path.stat().st_size
