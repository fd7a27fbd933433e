"""Quantization passes: ``quantize.int8_static``, ``quantize.int8_dynamic``, ``quantize.fp16``.

On an ONNX model each pass runs ONNX Runtime's quantizer and writes a new ``.onnx``.
On a PyTorch model it returns a quantized *handle*: the float module plus a recorded
recipe and stored calibration samples; ``edgepress.convert`` then applies it per format
with that runtime's own quantizer (ExecuTorch: XNNPACK PT2E; TFLite: ai-edge-quantizer
on the float .tflite; ONNX: fp32 export, then ONNX Runtime static QDQ), so every format
is calibrated on the same data. ``edgepress.quantize`` adds the accuracy guard (``max_drop``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.compress.quantizable import check_keras_quantizable, check_torch_quantizable
from edgepress.converters.onnx_quant import StaticOptions
from edgepress.data import DEFAULT_CALIBRATION_SAMPLES, EvalData, calibration_inputs, store_inputs
from edgepress.errors import BadInputError, FormatChainError
from edgepress.passes import apply, cache_key, describe, register
from edgepress.quantization import DEFAULT_PERCENTILE, Activations, Calibration, Mode, QuantSpec, record
from edgepress.storage import cached, publish, staging_dir

RANDOM_NOTE = "calibrated on seeded random inputs (no data given): expect accuracy loss; pass data= / --data"


def _keep(names: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in names.split(",") if n.strip())


@register
@dataclass(frozen=True)
class QuantizeInt8Static:
    """Static INT8: weights and activations, activation ranges from calibration data.

    ``data`` is a ``.npz``/``.npy`` file (as for ``edgepress bench --data``); without it
    seeded random inputs are used and the report says so. ``keep_float`` lists layers
    (ONNX node names) left in float. ``max_drop`` (ONNX models) runs the accuracy guard
    (``compress.guard``) on ``eval_data`` (a ``.npz`` with ``x`` and, for accuracy, ``y``;
    default: ``data``), as ``edgepress.quantize(..., max_drop=)`` does.
    """

    name: ClassVar[str] = "quantize.int8_static"
    summary: ClassVar[str] = "static INT8 (calibrated; ONNX Runtime QDQ on ONNX, PT2E XNNPACK / ai-edge-quantizer on PyTorch, full-integer TFLite on Keras)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.ONNX, Format.TORCH, Format.KERAS})

    data: str = ""
    samples: int = DEFAULT_CALIBRATION_SAMPLES
    seed: int = 0
    calibration: Calibration = Calibration.PERCENTILE
    per_channel: bool = True
    activations: Activations = Activations.UINT8
    keep_float: str = ""
    input_layers_7bit: bool = True  # 7-bit weights where the model's input is read (ONNX; see onnx_quant)
    leading_float: bool = True  # the first convs stay float while they hold <= 1% of the weights (ONNX, TFLite and .pte; see onnx_quant)
    percentile: float = DEFAULT_PERCENTILE  # where calibration = "percentile" clips |x|
    max_drop: float | None = None  # the accuracy guard's budget, in points of 1.0 (or a fraction, with relative)
    relative: bool = False
    eval_data: str = ""
    fastest: bool = False  # with max_drop: time the variants that fit, keep the fastest (compress.guard)

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise BadInputError(f"samples must be at least 1, got {self.samples}")
        if not 50.0 < self.percentile <= 100.0:
            raise BadInputError(f"percentile must be in (50, 100], got {self.percentile}")
        if self.max_drop is not None and self.max_drop < 0:
            raise BadInputError(f"max_drop must be >= 0, got {self.max_drop}")
        if self.fastest and self.max_drop is None:
            raise BadInputError("fastest picks among the settings that fit max_drop; set max_drop too (e.g. max_drop = 0.01)")

    def output_format(self, source: Format) -> Format:
        if self.max_drop is not None and source is not Format.ONNX:
            raise FormatChainError(
                f"pass {self.name!r} with max_drop takes an onnx model, not {source.value} (the guard scores ONNX Runtime's results); "
                "add a convert.onnx step before it"
            )
        return source

    def spec(self) -> QuantSpec:
        """The recipe this pass's options describe (without its calibration samples)."""
        return QuantSpec(
            Mode.INT8_STATIC, self.per_channel, self.calibration, self.activations, self.percentile, _keep(self.keep_float),
            self.input_layers_7bit, self.leading_float,
        )

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        if self.max_drop is not None:
            return self._guarded(artifact, out_dir)
        data = calibration_inputs(self.data, artifact.input_spec, self.samples, self.seed)
        if artifact.format in HANDLE_FORMATS:
            return model_handle(self, artifact, self.spec(), data, tag=self.tag())

        def write(src: Path, dst: Path) -> dict[str, Any]:
            from edgepress.converters.onnx_quant import quantize_static

            return quantize_static(src, dst, data.inputs, artifact.input_spec.names, StaticOptions.of(self.spec()))

        return onnx_output(self, artifact, out_dir, self.tag(), write, data.random, self.spec())

    def _guarded(self, artifact: Artifact, out_dir: Path) -> Artifact:
        """This pass under the accuracy guard: each attempt is this pass without ``max_drop``."""
        import dataclasses

        from edgepress.compress.guard import guarded
        from edgepress.data import calibration_data

        source = self.eval_data or self.data
        if not source:
            raise BadInputError("max_drop needs evaluation data: set eval_data = \"val.npz\" (x, and y for accuracy) or data")
        attempt = dataclasses.replace(self, max_drop=None, relative=False, eval_data="", fastest=False)
        return guarded(attempt, artifact, out_dir, calibration_data(source, artifact.input_spec), self.max_drop, self.relative, self.fastest)

    def tag(self) -> str:
        """The file-name suffix: int8, or int16x8 for 16-bit activations."""
        return "int16x8" if self.activations is Activations.INT16 else "int8"


@register
@dataclass(frozen=True)
class QuantizeInt8Dynamic:
    """Dynamic INT8: int8 weights, activations quantized at run time (for transformers and LSTMs)."""

    name: ClassVar[str] = "quantize.int8_dynamic"
    summary: ClassVar[str] = "dynamic INT8 (weights int8, activations at run time; TFLite 'dynamic range' on Keras; no calibration data)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.ONNX, Format.TORCH, Format.KERAS})

    per_channel: bool = True

    def output_format(self, source: Format) -> Format:
        return source

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        spec = QuantSpec(Mode.INT8_DYNAMIC, self.per_channel)
        if artifact.format in HANDLE_FORMATS:
            # PT2E dynamic still runs the model once per sample to trace observers.
            return model_handle(self, artifact, spec, calibration_inputs(None, artifact.input_spec, 1), note=False)

        def write(src: Path, dst: Path) -> dict[str, Any]:
            from edgepress.converters.onnx_quant import quantize_dynamic

            return quantize_dynamic(src, dst, self.per_channel)

        return onnx_output(self, artifact, out_dir, "int8dyn", write, False, spec)


@register
@dataclass(frozen=True)
class QuantizeFp16:
    """Float16 weights with float32 inputs and outputs (ONNX; Keras via its TFLite and ONNX forms)."""

    name: ClassVar[str] = "quantize.fp16"
    summary: ClassVar[str] = "FP16 weights, FP32 I/O kept (ONNX Runtime's float16 converter; TFLite float16 on Keras)"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.ONNX, Format.KERAS})

    def output_format(self, source: Format) -> Format:
        return source

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        from edgepress.converters.onnx_quant import to_fp16

        if artifact.format is Format.KERAS:
            return model_handle(self, artifact, QuantSpec(Mode.FP16), calibration_inputs(None, artifact.input_spec, 1), note=False)

        return onnx_output(self, artifact, out_dir, "fp16", to_fp16, False, QuantSpec(Mode.FP16))


def onnx_output(p: Any, source: Artifact, out_dir: Path, tag: str, write: Any, random: bool, spec: QuantSpec) -> Artifact:
    """Stage, write and publish ``<stem>_<tag>.onnx`` (its ``quant`` is ``spec``); reuse it when the cache key matches."""
    key = cache_key(p, source)
    filename = f"{source.stem}_{tag}.onnx"
    hit = cached(out_dir, filename, key)
    if hit is not None:
        return hit
    if source.path is None:
        raise BadInputError("quantizing ONNX needs the model file; load it with edgepress.load")
    with staging_dir(out_dir) as tmp:
        staged = tmp / filename
        # the ONNX file is quantized here: its entry holds what ONNX Runtime did, not the spec's defaults for other backends
        report = {**record(None, write(source.path, staged)), "source_size_bytes": source.size_bytes}
        report |= {"note": RANDOM_NOTE, "flags": ["random_calibration"]} if random else {}
        from edgepress.converters.coverage import check

        report = check(report, spec, "onnx", staged)  # say how much of it is really int8
        made = Artifact.from_file(staged, Format.ONNX, source.input_spec, (*source.lineage, describe(p)), (), report, spec)
        return publish(made, out_dir, key)


HANDLE_FORMATS = frozenset({Format.TORCH, Format.KERAS})
TAGS = {Mode.INT8_STATIC: "int8", Mode.INT8_DYNAMIC: "int8dyn", Mode.FP16: "fp16"}


def model_handle(p: Any, source: Artifact, spec: QuantSpec, data: EvalData, note: bool = True, tag: str = "") -> Artifact:
    """A quantized handle of an in-memory model: the float model with ``spec`` and its stored samples on ``quant``."""
    if source.format is Format.KERAS:
        from edgepress.intake.keras import KerasModel, keras_model

        held = keras_model(source)
        check_keras_quantizable(held.model)
        model: Any = KerasModel(held.model, held.flavor)
    else:
        from edgepress.intake.torch import TorchModel

        check_torch_quantizable(source.model.module)
        # a new handle (the module is not changed) that keeps the source's dynamic dimensions
        model = TorchModel(source.model.module, source.model.example_inputs, source.model.dynamic_dims)
    spec = spec.with_data(store_inputs(data, source.input_spec))
    assert spec.data is not None
    digest = hashlib.sha256(json.dumps([source.sha256, describe(p), Path(spec.data.path).name], sort_keys=True).encode()).hexdigest()
    name = f"{source.stem}_{tag or TAGS[spec.mode]}"
    report = {**source.report, "name": name} | ({"note": RANDOM_NOTE} if data.random and note else {})
    # In memory, not at the float file's path (a Keras model loaded from a file has one): a
    # path would name every output after the float model and overwrite its files.
    return source.derive(path=None, side_files=(), sha256=digest, lineage=(*source.lineage, describe(p)), report=report, model=model, quant=spec)


MODES = {"int8": "quantize.int8_static", "int8_static": "quantize.int8_static", "int16x8": "quantize.int8_static",
         "int8_dynamic": "quantize.int8_dynamic", "fp16": "quantize.fp16", "qat": "quantize.qat"}


def quantize(
    model: Artifact,
    mode: str = "int8",
    calibration: Any = None,
    *,
    out_dir: str | Path = "out",
    samples: int = DEFAULT_CALIBRATION_SAMPLES,
    seed: int = 0,
    method: str = "percentile",
    per_channel: bool = True,
    activations: str = "uint8",
    keep_float: tuple[str, ...] = (),
    max_drop: float | None = None,
    relative: bool = False,
    eval_data: Any = None,
    fastest: bool = False,
    epochs: int = 3,
    lr: float = 1e-4,
    batch_size: int = 64,
    progress: bool | None = None,
) -> Artifact:
    """Quantize a model; with ``max_drop``, retry until the accuracy drop fits (see ``guard``).

    Args:
        model: from ``edgepress.from_torch`` or ``edgepress.load("m.onnx")``.
        mode: "int8" (static), "int16x8" (static, 16-bit activations), "int8_dynamic" or "fp16".
        calibration: arrays, an ``(x, y)`` pair, a ``.npz`` path, a DataLoader or tf.data.
        out_dir: where ONNX results are written (PyTorch handles are written by ``convert``).
        max_drop: the largest accuracy (or top-1 agreement) drop allowed, in points of
            1.0 (0.01 = one point) or, with ``relative``, a fraction of the float score.
        eval_data: labelled data for the guard (defaults to ``calibration``).
        fastest: with ``max_drop``, also try the variants without the accuracy measures
            that cost speed, time those that fit on this host, keep the fastest.
        epochs, lr, batch_size, progress: mode "qat" (quantization-aware training) fine-tunes
            on ``calibration`` as labelled data (``(x, y)``, a ``.npz`` with x and y, a
            DataLoader) with Adam; ``seed`` and ``per_channel`` apply too.

    Example:
        >>> q = edgepress.quantize(m, "int8", calibration=(x_train, y_train))
        >>> edgepress.convert(q, ["onnx", "tflite", "executorch"], out_dir="out")
    """
    from edgepress.data import calibration_data
    from edgepress.intake.torch import module_of_program
    from edgepress.passes import create

    model = module_of_program(model)  # a loaded .pt2 quantizes like the module it was exported from
    _refuse_before_work(model, mode, max_drop)
    if fastest and max_drop is None:
        raise BadInputError("fastest picks among the settings that fit max_drop; give max_drop too (e.g. max_drop=0.01)")
    if model.format is Format.TORCHSCRIPT or (max_drop is not None and model.format in HANDLE_FORMATS):
        for data in (calibration, eval_data):
            if data is not None:
                calibration_data(data, model.input_spec)  # bad data is refused before the export starts
        # ONNX Runtime quantizes what torch.export's quantizers cannot take (a ScriptModule),
        # and the guard scores ONNX Runtime runs of each attempt.
        model = _onnx_in_cache(model)
    if mode == "qat":  # training, not calibration: see compress.qat
        from edgepress.compress.qat import qat

        return qat(model, calibration, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, per_channel=per_channel, progress=progress)
    if mode == "fp16" and model.format not in (Format.ONNX, Format.KERAS):
        raise BadInputError("fp16 quantization takes an ONNX or Keras model; convert a PyTorch model to ONNX first")
    options: dict[str, Any] = {}
    calib = None
    activations = "int16" if mode == "int16x8" else activations
    if MODES[mode] == "quantize.int8_static":
        calib = calibration_data(calibration, model.input_spec, samples, seed) if calibration is not None else None
        options = {"samples": samples, "seed": seed, "calibration": method, "per_channel": per_channel,
                   "activations": activations, "keep_float": ",".join(keep_float)}
        options["data"] = store_inputs(calib, model.input_spec).path if calib is not None else ""
    elif mode == "int8_dynamic":
        options = {"per_channel": per_channel}
    p = create(MODES[mode], options)
    if max_drop is None:
        return apply(p, model, Path(out_dir))
    from edgepress.compress.guard import guarded

    evaluation = calibration_data(eval_data if eval_data is not None else calibration, model.input_spec) if (eval_data is not None or calibration is not None) else None
    return guarded(p, model, Path(out_dir), evaluation, max_drop, relative, fastest)


def _refuse_before_work(model: Artifact, mode: str, max_drop: float | None) -> None:
    """Raise BadInputError for a mode, model and guard that cannot go together, before any export or calibration."""
    if mode not in MODES:
        raise BadInputError(f"unknown quantization mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "qat" and max_drop is not None:
        raise BadInputError(
            "the accuracy guard (max_drop) retries post-training calibration settings and has none to retry for qat; "
            "run qat without max_drop and measure the result with edgepress.bench, or use mode 'int8' with max_drop"
        )
    if max_drop is not None and MODES[mode] != "quantize.int8_static":
        raise BadInputError(f"the accuracy guard (max_drop) retries static INT8 calibration settings; mode {mode!r} has none: use mode 'int8' or 'int16x8'")
    if model.format is Format.TORCHSCRIPT and mode == "qat":
        raise BadInputError(
            "quantization-aware training needs the nn.Module, and a TorchScript file holds a ScriptModule; "
            "train from the original module (edgepress.from_torch) or use a post-training mode (int8, int8_dynamic)"
        )


def _onnx_in_cache(model: Artifact) -> Artifact:
    """The model's float ONNX export, kept with the cache's saved sources (not in the user's output folder)."""
    from edgepress import cachedir
    from edgepress.conversion import convert

    folder = cachedir.part("sources") / model.sha256[:32]
    (made,) = convert(model, ["onnx"], out_dir=folder)
    cachedir.used(folder)
    cachedir.bound("sources", keep=folder)
    return made
