"""How a model is quantized: the choices every backend reads, as types.

``Calibration`` says how activation ranges are chosen, ``Activations`` which integer type
activations get. The CLI checks its flags against these, the passes store them, and each
runtime's quantizer lowers them to its own settings.
"""

from __future__ import annotations

import enum


class Calibration(enum.Enum):
    """How activation ranges are chosen from calibration data."""

    MINMAX = "minmax"  # the observed range: fast, sensitive to outliers
    ENTROPY = "entropy"  # the range minimising KL divergence (TensorRT's method)
    PERCENTILE = "percentile"  # clip at the 99.99th percentile of |x| (the ONNX default; see onnx_quant)


class Activations(enum.Enum):
    """Activation integer type. uint8 (with int8 weights) is ORT's fast path on x86 and Arm."""

    UINT8 = "uint8"
    INT8 = "int8"
    INT16 = "int16"  # 16-bit activations, int8 weights: TFLite's int16x8 mode; ONNX QDQ with int16 (runs in float kernels)
