"""ExecuTorch's side of a quantized handle: its QuantSpec lowered with the XNNPACK quantizer.

- ``int8_static`` / ``int8_dynamic``: PT2E with ``XNNPACKQuantizer`` (symmetric int8,
  per-channel weights unless the spec says per-tensor), calibrated on the spec's stored
  samples; the ``.pte`` then delegates the int8 ops to XNNPACK.
- ``qat``: the handle already holds a converted PT2E graph (trained with the same
  quantizer); its weight quantize ops are folded into int8 constants.
- ``fp16`` and int16 activations: XNNPACK's quantizer has no such scheme; refused with
  the formats that have one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgepress.errors import ConversionError
from edgepress.quantization import Mode, QuantSpec

QUANTIZER = "PT2E XNNPACKQuantizer (symmetric int8)"

# program, examples, dynamic_shapes -> (quantized program, what the quantizer did)
Lowering = Callable[[QuantSpec, Any, tuple[Any, ...], Any], tuple[Any, dict[str, Any]]]


def quantized_program(spec: QuantSpec | None, program: Any, examples: tuple[Any, ...], dynamic_shapes: Any) -> tuple[Any, dict[str, Any]]:
    """(the program to lower to XNNPACK, the quantizer's report entries) for ``spec`` (None: float, unchanged)."""
    if spec is None:
        return program, {}
    lowering = LOWERINGS.get(spec.mode)
    if lowering is None:
        raise ConversionError(
            f"{spec.mode.value} quantization has no ExecuTorch XNNPACK scheme (it has int8 static, int8 dynamic and QAT); "
            "convert this model to TFLite or ONNX instead"
        )
    return lowering(spec, program, examples, dynamic_shapes)


def _pt2e(spec: QuantSpec, program: Any, examples: tuple[Any, ...], dynamic_shapes: Any) -> tuple[Any, dict[str, Any]]:
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    from edgepress.converters.pt2e import calibrated

    if spec.int16:
        raise ConversionError(
            "int16x8 quantization of a PyTorch model is not supported by ExecuTorch's PT2E quantizer; "
            "convert it to ONNX (ONNX Runtime QDQ with int16 activations) or TFLite (ai-edge-quantizer int16x8) instead"
        )
    config = get_symmetric_quantization_config(is_per_channel=spec.per_channel, is_dynamic=spec.mode is Mode.INT8_DYNAMIC)
    quantized = calibrated(spec, program.module(), examples, XNNPACKQuantizer().set_global(config), fold=True, dynamic_shapes=dynamic_shapes)
    return torch.export.export(quantized, examples, dynamic_shapes=dynamic_shapes), {"quantizer": QUANTIZER}


def _trained(spec: QuantSpec, program: Any, examples: tuple[Any, ...], dynamic_shapes: Any) -> tuple[Any, dict[str, Any]]:
    from edgepress.converters.pt2e import fold_weights

    return fold_weights(program), {}  # int8 weights, then the partitioner takes the int8 ops


LOWERINGS: dict[Mode, Lowering] = {Mode.INT8_STATIC: _pt2e, Mode.INT8_DYNAMIC: _pt2e, Mode.QAT: _trained}
