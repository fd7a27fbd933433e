"""Static INT8 of a float ``.tflite`` with ai-edge-quantizer, calibrated on the stored samples.

A quantized PyTorch handle becomes an INT8 TFLite in two steps: litert-torch converts
the float module, then ai-edge-quantizer quantizes that ``.tflite`` (weights int8
per-channel, activations int8). Why this and not litert-torch's PT2E quantizer: on a
pretrained MobileNetV2, judged by top-1 agreement with FP32 on confident ImageNet-like
inputs, PT2E reached 94-97% (its HistogramObserver needs ~300 samples and many minutes
to get there; min/max ranges do worse) and it cannot leave a layer in float.
ai-edge-quantizer calibrates the very graph that runs, in seconds, and its recipes can
leave chosen ops in float; with the first two convolutions in float it reached 98.5%.

Two settings carry that result:

* Activation ranges are the min/max over all samples. The library's default merges
  samples by a moving average, which with one-sample batches settles on a typical
  sample's range, clips the rest and halved agreement on that model.
* The first ``FLOAT_CONVS`` convolutions (in MobileNets the stem conv and the first
  depthwise) stay in float: their int8 weights and the stem's output range cost most of
  the error, for 0.03% of MobileNetV2's weights. Only while they hold at most
  ``FLOAT_SHARE`` of the weights, though: in a small network the first convolutions are
  much of the model, and leaving them in float would undo the INT8 it asked for.
  XNNPACK runs the float and the int8 parts alike.
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

if TYPE_CHECKING:
    import numpy as np

FLOAT_CONVS = 2  # leading convolutions kept in float (see the module docstring) ...
FLOAT_SHARE = 0.01  # ... while they hold at most this fraction of the model's weights
CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
T = TypeVar("T")


def quantize_static(
    src: Path, dst: Path, inputs: tuple[np.ndarray, ...], per_channel: bool = True, activation_bits: int = 8,
    float_convs: int = FLOAT_CONVS, float_share: float = FLOAT_SHARE,
) -> dict[str, Any]:
    """Quantize the float ``src`` into ``dst`` (int8 weights; int8, or int16 for int16x8, activations); returns the report entries.

    ``inputs`` are the calibration arrays in the model's input order and layout.
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
        result = q.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    dst.write_bytes(result.quantized_model)  # export_model would mark the file executable
    return {
        "quantizer": f"ai-edge-quantizer {version('ai-edge-quantizer')} (int8 weights {granularity.value.lower()}, int{activation_bits} activations, min/max ranges)",
        "activations": f"int{activation_bits}",  # what the file holds, whatever the recipe asked of runtimes that have uint8
        "method": "minmax",
        "float_ops": [name for name, _ in kept],
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

    from edgepress.compress.calibration import samples
    from edgepress.layouts import cast_integers

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe)
    key, names, dtypes = _signature(src)
    # litert-torch narrows int64 token ids to int32 inputs: feed what the file declares
    inputs = tuple(cast_integers(inputs, dtypes, names)[0])
    run = calibrator.Calibrator(str(src), num_threads=os.cpu_count() or 1, qsv_update_func=qsv_utils.min_max_update)
    run.calibrate({key: [dict(zip(names, batch)) for batch in samples(inputs)]}, manager)
    return run.get_model_qsvs()


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
