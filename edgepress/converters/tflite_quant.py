"""TFLite's side of a quantized handle: its QuantSpec lowered for litert-torch and the TFLiteConverter.

INT8 TFLite from PyTorch, every mode (``convert_torch``):

- ``int8_static`` (and int16x8): litert-torch converts the float module, then
  ai-edge-quantizer quantizes that ``.tflite`` on the stored samples (``quantize_static``;
  weights int8 per-channel, activations int8 or int16).
- ``int8_dynamic``: litert-torch's PT2E quantizer (dynamic), then litert-torch converts.
- ``qat``: the handle's graph already holds Q/DQ pairs; litert-torch lowers them to int8 kernels.

Keras (``configure``): the TFLiteConverter's own modes (full integer with a
representative dataset, int16x8, dynamic range, float16, and TF-MOT QAT models).

Static INT8 from PyTorch in two steps, litert-torch then ai-edge-quantizer. Why this and not litert-torch's PT2E quantizer: on a
pretrained MobileNetV2, judged by top-1 agreement with FP32 on confident ImageNet-like
inputs, PT2E reached 94-97% (its HistogramObserver needs ~300 samples and many minutes
to get there; min/max ranges do worse) and it cannot leave a layer in float.
ai-edge-quantizer calibrates the very graph that runs, in seconds, and its recipes can
leave chosen ops in float; with the first two convolutions in float it reached 98.5%.

Four settings carry that result:

* Activation ranges are taken over all samples. The library's default merges
  samples by a moving average, which with one-sample batches settles on a typical
  sample's range, clips the rest and halved agreement on that model.
* They clip at the spec's percentile of |x| (99.99th by default, ONNX Runtime's rule, as
  on the ONNX path) rather than at min/max, which a few outliers stretch: on MobileNetV2
  (300 calibration crops, 500 evaluation crops) agreement with FP32 went from 77.4% to
  88.2% on all crops and from 98.6% to 99.0% on the confident ones. ``method = "minmax"``
  keeps min/max; ``"entropy"`` has no rule here and is min/max too.
* The first ``FLOAT_CONVS`` convolutions (in MobileNets the stem conv and the first
  depthwise) stay in float: their int8 weights and the stem's output range cost most of
  the error, for 0.03% of MobileNetV2's weights. Only while they hold at most
  ``FLOAT_SHARE`` of the weights, though: in a small network the first convolutions are
  much of the model, and leaving them in float would undo the INT8 it asked for.
  XNNPACK runs the float and the int8 parts alike.
* Each int8 layer's bias takes back the mean shift of its rounded weights
  (``tflite_bias``), from input means read in the same float run as the percentiles.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edgepress.converters.tflite_bias import InputMeans, correct_bias
from edgepress.data import batches
from edgepress.errors import ConversionError
from edgepress.quantization import Calibration, Mode, QuantSpec

if TYPE_CHECKING:
    import numpy as np

FLOAT_CONVS = 2  # leading convolutions kept in float (see the module docstring) ...
FLOAT_SHARE = 0.01  # ... while they hold at most this fraction of the model's weights
CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
T = TypeVar("T")


def convert_torch(spec: QuantSpec | None, module: Any, examples: tuple[Any, ...], path: Path, nhwc: bool) -> dict[str, Any]:
    """Write ``module`` to ``path`` as ``spec`` says (None: float); returns the quantizer's report entries.

    ``examples`` are in the module's layout; with ``nhwc`` the module takes channels-last
    images while the stored samples are in the PyTorch model's (NCHW) layout.
    """
    import litert_torch

    if spec is None:
        litert_torch.convert(module, examples).export(str(path))
        return {}
    lowering = TORCH_LOWERINGS.get(spec.mode)
    if lowering is None:
        raise ConversionError(f"{spec.mode.value} quantization of a PyTorch model has no TFLite lowering; quantize the ONNX form instead")
    return lowering(spec, module, examples, path, nhwc)


def _torch_static(spec: QuantSpec, module: Any, examples: tuple[Any, ...], path: Path, nhwc: bool) -> dict[str, Any]:
    """Convert in float, then ai-edge-quantizer on the stored samples (see the module docstring for why)."""
    import litert_torch

    from edgepress.data import stored_inputs

    float_path = path.with_suffix(".float.tflite")
    litert_torch.convert(module, examples).export(str(float_path))
    assert spec.data is not None  # a static handle always stores its samples (quantize.model_handle)
    inputs = tuple(a.transpose(0, 2, 3, 1) if nhwc and a.ndim == 4 else a for a in stored_inputs(spec.data))
    try:
        percentile = spec.percentile if spec.calibration is Calibration.PERCENTILE else None  # entropy: min/max (no such rule here)
        return quantize_static(
            float_path, path, inputs, per_channel=spec.per_channel, activation_bits=16 if spec.int16 else 8,
            float_convs=FLOAT_CONVS if spec.leading_float else 0, percentile=percentile,
        )
    finally:
        float_path.unlink(missing_ok=True)


def _torch_dynamic(spec: QuantSpec, module: Any, examples: tuple[Any, ...], path: Path, nhwc: bool) -> dict[str, Any]:
    """Dynamic range: litert-torch's PT2E quantizer (it traces the module once per stored sample)."""
    import litert_torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    from edgepress.converters.pt2e import calibrated

    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=spec.per_channel, is_dynamic=True))
    permute = (lambda t: t.permute(0, 2, 3, 1) if t.dim() == 4 else t) if nhwc else (lambda t: t)
    quantized = calibrated(spec, module, examples, quantizer, fold=False, permute=permute)
    litert_torch.convert(quantized, examples, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    return {"quantizer": "litert-torch PT2EQuantizer (symmetric int8)"}


def _torch_trained(spec: QuantSpec, module: Any, examples: tuple[Any, ...], path: Path, nhwc: bool) -> dict[str, Any]:
    """A QAT graph's own Q/DQ pairs lowered to int8 kernels.

    litert-torch reads only the mode (static) from the QuantConfig; the quantization itself
    is already in the graph. Its own QAT annotator fails on torch 2.13 (it exports a
    function), so QAT trains with ExecuTorch's XNNPACK quantizer, whose int8 scheme is the same.
    """
    import litert_torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    module.training = False
    config = QuantConfig(pt2e_quantizer=PT2EQuantizer().set_global(get_symmetric_quantization_config()))
    litert_torch.convert(module, examples, quant_config=config).export(str(path))
    return {}


TORCH_LOWERINGS = {Mode.INT8_STATIC: _torch_static, Mode.INT8_DYNAMIC: _torch_dynamic, Mode.QAT: _torch_trained}


def configure(converter: Any, spec: QuantSpec | None) -> dict[str, Any]:
    """Set a Keras TFLiteConverter's optimisation options for ``spec``; returns the quantizer's report entries.

    - ``int8_static``: full integer, activation ranges from a representative dataset (the
      stored samples); float32 model inputs and outputs are kept. With int16 activations,
      the converter's int16x8 mode (builtin ops only).
    - ``int8_dynamic``: dynamic range. ``fp16``: float16 weights.
    - ``qat``: a TF-MOT model; ``Optimize.DEFAULT`` turns its learned ranges into int8 kernels.
    """
    import tensorflow as tf

    if spec is None:
        return {}
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return KERAS_LOWERINGS[spec.mode](converter, spec)


def _keras_fp16(converter: Any, spec: QuantSpec) -> dict[str, Any]:
    import tensorflow as tf

    converter.target_spec.supported_types = [tf.float16]
    return {"quantizer": "TFLiteConverter float16"}


def _keras_static(converter: Any, spec: QuantSpec) -> dict[str, Any]:
    import tensorflow as tf

    from edgepress.data import stored_inputs

    assert spec.data is not None  # a static handle always stores its samples (quantize.model_handle)
    ref = spec.data
    converter.representative_dataset = lambda: (list(batch) for batch in batches(stored_inputs(ref)))
    if spec.int16:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        chosen = "TFLiteConverter int16x8 (int16 activations, int8 weights; representative dataset)"
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        chosen = "TFLiteConverter full integer (representative dataset)"
    if not spec.per_channel:
        converter._experimental_disable_per_channel = True  # the converter's only switch for per-tensor weights
    return {"quantizer": chosen}


KERAS_LOWERINGS = {
    Mode.FP16: _keras_fp16,
    Mode.INT8_STATIC: _keras_static,
    Mode.INT8_DYNAMIC: lambda converter, spec: {"quantizer": "TFLiteConverter dynamic range"},
    # TF-MOT's fake quantizers hold the learned ranges: no representative data
    Mode.QAT: lambda converter, spec: {"quantizer": "TFLiteConverter int8 from TF-MOT quantization-aware training"},
}


def quantize_static(
    src: Path, dst: Path, inputs: tuple[np.ndarray, ...], per_channel: bool = True, activation_bits: int = 8,
    float_convs: int = FLOAT_CONVS, float_share: float = FLOAT_SHARE, percentile: float | None = None, bias_correction: bool = True,
) -> dict[str, Any]:
    """Quantize the float ``src`` into ``dst`` (int8 weights; int8, or int16 for int16x8, activations); returns the report entries.

    ``inputs`` are the calibration arrays in the model's input order and layout. Activation
    ranges clip at ``percentile`` of |x| when given (see the module docstring), else min/max.
    ``bias_correction`` (``tflite_bias``) is on for every file edgepress writes; off only to measure what it gives.
    """
    from importlib.metadata import version

    from ai_edge_quantizer import qtyping, quantizer

    granularity = qtyping.QuantGranularity.CHANNELWISE if per_channel else qtyping.QuantGranularity.TENSORWISE
    q = quantizer.Quantizer(str(src))
    q.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, activation_bits, 8, weight_granularity=granularity)
    kept = leading_convs(src, float_convs, float_share)
    for _, scope in kept:
        q.update_quantization_recipe(f"^{re.escape(scope)}$", qtyping.TFLOperationName.ALL_SUPPORTED, algorithm_key="no_quantize")
    with _quiet():
        ranges = _calibrate(src, q.get_quantization_recipe(), inputs)
        ranges, means = _float_run(src, ranges, inputs, percentile)
        result = q.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
        quantized, corrected = correct_bias(src, bytes(result.quantized_model), means) if bias_correction else (bytes(result.quantized_model), 0)
    dst.write_bytes(quantized)  # export_model would mark the file executable
    clipped = f"ranges at the {percentile:g}th percentile of |x|" if percentile is not None else "min/max ranges"
    return {
        "quantizer": f"ai-edge-quantizer {version('ai-edge-quantizer')} (int8 weights {granularity.value.lower()}, int{activation_bits} activations, {clipped})",
        "activations": f"int{activation_bits}",  # what the file holds, whatever the recipe asked of runtimes that have uint8
        "method": "percentile" if percentile is not None else "minmax",
        "float_ops": [name for name, _ in kept],
        "bias_corrected": corrected,  # layers whose bias took back their weight rounding's mean shift (tflite_bias)
    }


def within_share(convs: Iterable[tuple[T, int]], total: int, count: int = FLOAT_CONVS, share: float = FLOAT_SHARE) -> list[T]:
    """The first ``count`` of ``convs`` ((conv, filter size) in execution order) while together they hold at most ``share`` of ``total`` weights.

    The one rule for both TFLite (here) and ONNX (``onnx_quant.leading_convs``).
    """
    budget = share * total
    kept: list[T] = []
    for conv, size in convs:
        budget -= size
        if len(kept) == count or budget < 0:
            break
        kept.append(conv)
    return kept


def leading_convs(path: Path, count: int, share: float) -> list[tuple[str, str]]:
    """(``OP#index``, quantizer scope) of up to ``count`` first convolutions holding at most ``share`` of the weights."""
    import numpy as np
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as fb

    model = fb.read_model(str(path))
    graph = model.subgraphs[0]
    sizes = [int(np.prod(t.shape)) if model.buffers[t.buffer].data is not None else 0 for t in graph.tensors]

    def convs() -> Iterator[tuple[tuple[str, str], int]]:
        for index, op in enumerate(graph.operators):  # in execution order
            kind = fb.TFL_OP_CODE_TO_NAME.get(model.operatorCodes[op.opcodeIndex].builtinCode)
            if kind not in CONVS:
                continue
            scope = fb.get_op_scope(op, graph.tensors)  # what recipe regexes are matched against
            if not scope:
                return  # a conv the recipe cannot address ends the float prefix
            yield (f"{kind.value}#{index}", scope), sizes[op.inputs[1]]  # the filter's size

    return within_share(convs(), sum(sizes), count, share)


def _calibrate(src: Path, recipe: Any, inputs: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """Per-tensor min/max over every sample (not the library's default moving average)."""
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    from edgepress.layouts import cast_integers

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe)
    key, names, dtypes = _signature(src)
    # litert-torch narrows int64 token ids to int32 inputs: feed what the file declares
    inputs = tuple(cast_integers(inputs, dtypes, names)[0])
    run = calibrator.Calibrator(str(src), num_threads=os.cpu_count() or 1, qsv_update_func=qsv_utils.min_max_update)
    run.calibrate({key: [dict(zip(names, batch)) for batch in batches(inputs)]}, manager)
    return run.get_model_qsvs()


def _float_run(src: Path, ranges: dict[str, Any], inputs: tuple[np.ndarray, ...], percentile: float | None) -> tuple[dict[str, Any], dict[int, np.ndarray]]:
    """One run of the float model over every sample: ``ranges`` clipped at ``percentile`` of |x|
    (unchanged when None), and the per-channel input means that bias correction needs.

    The percentile rule is ONNX Runtime's, streamed as on the ONNX path (``onnx_calibration.Tail``):
    one sample's activations at a time, only the tail above the running cut-off kept.
    """
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from edgepress.converters.onnx_calibration import Tail
    from edgepress.layouts import cast_integers

    interpreter = Interpreter(model_path=str(src), experimental_preserve_all_tensors=True)  # intermediate tensors stay readable
    key, names, dtypes = _signature(src)
    run = interpreter.get_signature_runner(key)
    index = {d["name"]: d["index"] for d in interpreter.get_tensor_details()}
    clipped = [name for name, qsv in ranges.items() if name in index and "min" in qsv and "max" in qsv] if percentile is not None else []
    feeds = [dict(zip(names, batch)) for batch in batches(tuple(cast_integers(inputs, dtypes, names)[0]))]
    tail = 1.0 - percentile / 100.0 if percentile is not None else 0.0  # unused without a percentile: nothing is clipped
    tails = {name: Tail() for name in clipped}
    means = InputMeans(interpreter)
    for feed in feeds:
        run(**feed)
        means.add(interpreter)
        for name in clipped:
            tails[name].add(interpreter.get_tensor(index[name]), len(feeds), tail)
    for name, stats in tails.items():
        if stats.count:
            edge = stats.bin_edge(tail)
            qsv = ranges[name]
            qsv["min"] = np.full_like(np.asarray(qsv["min"], np.float32), max(-edge, stats.low))
            qsv["max"] = np.full_like(np.asarray(qsv["max"], np.float32), min(edge, stats.high))
    return ranges, means.means()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the quantizer's progress bar (it has no switch) and its interpreters' warning
    that keeping every tensor, which is what calibration reads, is a debugging mode."""
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        yield


def _signature(path: Path) -> tuple[str, list[str], list[str]]:
    """The model's signature key, its input names in the model's input order, and their dtypes."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    key = next(iter(interpreter.get_signature_list()))
    details = interpreter.get_signature_runner(key).get_input_details()
    order = [d["index"] for d in interpreter.get_input_details()]
    names = sorted(details, key=lambda name: order.index(details[name]["index"]))
    return key, names, [np.dtype(details[name]["dtype"]).name for name in names]
