"""How a model is quantized: ``QuantSpec``, the typed record every backend reads.

``edgepress.quantize`` on a PyTorch or Keras model returns a *handle*: the float model
with a ``QuantSpec`` on ``Artifact.quant``. Each backend (``converters/onnx_quant.py``,
``converters/tflite_quant.py``, ``converters/executorch_quant.py``) lowers that record
to its own quantizer through one function, calibrated on the same stored samples
(``DataRef``). The record is hashed into every cache key (``passes.cache_key``),
written in the artifact's sidecar and carried by the ``.pt2`` / ``.keras`` a handle is
saved as, so a saved quantized handle converts exactly as the handle did.

What a quantizer *did* (its name, the layers it left float, the per-layer sensitivity,
the INT8 coverage) is a fact about the output file, kept in the output's report under
``REPORT_KEY`` (``artifact.report.quantization`` in the results JSON); nothing reads a
recipe back from a report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any


REPORT_KEY = "quantization"  # the output report's entry: the spec plus what the quantizer did
DEFAULT_PERCENTILE = 99.99  # where percentile calibration clips |x| (see converters/onnx_quant.py)


@dataclass(frozen=True)
class DataRef:
    """Calibration inputs stored once by content (``data.store_inputs``; read back with ``data.stored_inputs``).

    Each backend quantizes in its own process, often a converter child: a path into the
    edgepress cache is what travels, and every backend calibrates on exactly these samples.
    It lives here, not in ``data.py``, because ``artifact.py`` carries a QuantSpec and
    ``data.py`` reads ``artifact.py``'s InputSpec.
    """

    path: str
    count: int
    random: bool = False  # seeded random inputs: no data was given


class Mode(enum.Enum):
    """What is quantized. The value is the name reports and the results JSON use."""

    INT8_STATIC = "int8_static"  # int8 weights and activations, ranges from calibration data
    INT8_DYNAMIC = "int8_dynamic"  # int8 weights, activations quantized at run time
    FP16 = "fp16"  # float16 weights
    QAT = "qat"  # the model was trained with fake quantization: it holds its own ranges
    INT4 = "int4"  # weight-only 4-bit in blocks of ``group_size`` (language models); embeddings and LM head int8
    INT8_WEIGHT = "int8_weight"  # weight-only 8-bit in blocks of ``group_size`` (language models)


class WeightMethod(enum.Enum):
    """How weight-only blocks are rounded (language models)."""

    RTN = "rtn"  # round to nearest, asymmetric per block
    HQQ = "hqq"  # half-quadratic quantization: scales and zero points optimised per block, no data
    GPTQ = "gptq"  # error-compensating rounding, layer by layer, from activations on calibration text


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


@dataclass(frozen=True)
class Training:
    """How a quantization-aware-trained model was trained (``Mode.QAT``)."""

    epochs: int
    lr: float
    samples: int
    quantizer: str


@dataclass(frozen=True)
class QuantSpec:
    """A quantization recipe: frozen, hashable, the same for every backend.

    Example:
        >>> QuantSpec(Mode.INT8_DYNAMIC).to_dict()["mode"]
        'int8_dynamic'
    """

    mode: Mode
    per_channel: bool = True
    calibration: Calibration = Calibration.PERCENTILE
    activations: Activations = Activations.UINT8
    percentile: float = DEFAULT_PERCENTILE
    keep_float: tuple[str, ...] = ()  # layers (ONNX node names) left in float
    input_layers_7bit: bool = True  # 7-bit weights where the model's input is read (ONNX; see onnx_quant)
    leading_float: bool = True  # the first convs stay float while tiny (ONNX, TFLite and .pte; see onnx_quant)
    data: DataRef | None = None  # the calibration samples (PT2E traces dynamic INT8 with them too)
    training: Training | None = None  # Mode.QAT only
    group_size: int = 32  # weight-only modes: weights per block sharing a scale
    weight_method: WeightMethod = WeightMethod.RTN  # weight-only modes

    @property
    def weight_only(self) -> bool:
        return self.mode in (Mode.INT4, Mode.INT8_WEIGHT)

    @property
    def int16(self) -> bool:
        """16-bit activations with int8 weights (the int16x8 scheme)."""
        return self.activations is Activations.INT16

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the sidecar's ``quant``, the head of an output's report entry)."""
        out: dict[str, Any] = {"mode": self.mode.value, "per_channel": self.per_channel}
        if self.mode is Mode.INT8_STATIC:
            clip = {"percentile": self.percentile} if self.calibration is Calibration.PERCENTILE else {}
            out |= {"method": self.calibration.value, **clip, "activations": self.activations.value, "keep_float": list(self.keep_float),
                    "input_layers_7bit": self.input_layers_7bit, "leading_float": self.leading_float}
        if self.weight_only:
            out |= {"group_size": self.group_size, "method": self.weight_method.value}
        if self.data is not None:
            out |= {"calibration_file": self.data.path, "samples": self.data.count, "random_calibration": self.data.random}
        if self.training is not None:
            out |= {"epochs": self.training.epochs, "lr": self.training.lr, "samples": self.training.samples, "quantizer": self.training.quantizer}
        return out

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> QuantSpec:
        """Read ``to_dict`` output; also the untyped recipe dict earlier releases kept in a handle's report."""
        mode = Mode(record["mode"])
        weight_only = mode in (Mode.INT4, Mode.INT8_WEIGHT)  # their "method" rounds weights; it is no calibration
        data = DataRef(str(record["calibration_file"]), int(record.get("samples", 0)), bool(record.get("random_calibration", False))) if record.get("calibration_file") else None
        training = Training(int(record["epochs"]), float(record["lr"]), int(record["samples"]), str(record.get("quantizer", ""))) if mode is Mode.QAT else None
        return cls(
            mode, bool(record.get("per_channel", True)), Calibration(Calibration.PERCENTILE.value if weight_only else record.get("method", Calibration.PERCENTILE.value)),
            Activations(record.get("activations", Activations.UINT8.value)), float(record.get("percentile", DEFAULT_PERCENTILE)),
            tuple(record.get("keep_float", ())), bool(record.get("input_layers_7bit", True)), bool(record.get("leading_float", True)), data, training,
            int(record.get("group_size", 32)), WeightMethod(record["method"]) if weight_only else WeightMethod.RTN,
        )

    def with_data(self, data: DataRef | None) -> QuantSpec:
        return replace(self, data=data)


def record(spec: QuantSpec | None, facts: dict[str, Any]) -> dict[str, Any]:
    """The report entry of an output file: ``{REPORT_KEY: spec + what the quantizer did}`` (empty when float)."""
    if spec is None and not facts:
        return {}
    return {REPORT_KEY: {**(spec.to_dict() if spec else {}), **facts}}


def facts(report: dict[str, Any]) -> dict[str, Any]:
    """What the quantizer recorded in an output's report (empty for a float file)."""
    entry = report.get(REPORT_KEY)
    return entry if isinstance(entry, dict) else {}


LEGACY_FORMATS = frozenset({"torch", "pt2", "keras"})  # where earlier releases kept the recipe in the report


def read_recorded(fmt: str, recorded: dict[str, Any]) -> tuple[QuantSpec | None, dict[str, Any]]:
    """(quant, report) from an artifact's JSON form (``Artifact.to_dict``, a sidecar's ``artifact``).

    A handle saved by a release before ``quant`` existed kept its recipe in its report:
    it is read once here, becomes the QuantSpec and leaves the report.
    """
    report = dict(recorded.get("report") or {})
    if recorded.get("quant"):
        return QuantSpec.from_dict(recorded["quant"]), report
    entry = facts(report)
    if fmt not in LEGACY_FORMATS or entry.get("mode") not in {m.value for m in Mode}:
        return None, report
    rest = {k: v for k, v in report.items() if k != REPORT_KEY}
    return QuantSpec.from_dict(entry), rest
