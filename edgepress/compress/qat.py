"""``quantize.qat``: quantization-aware training, fine-tuning with simulated INT8.

Post-training INT8 picks ranges once, from calibration data; QAT trains the model with
fake quantization in the loop, so the weights learn to live with the rounding.

- PyTorch: ``torch.export`` -> BatchNorm folded -> ``prepare_qat_pt2e`` with ExecuTorch's
  XNNPACK quantizer (symmetric int8, per-channel weights) -> Adam on cross-entropy for
  ``epochs`` (the distillation trainer: seeded, a validation split, the best epoch kept,
  a progress bar) -> ``convert_pt2e``. The handle holds the converted program; ``convert``
  lowers it to an XNNPACK ``.pte``, a QDQ ONNX model or a full-integer TFLite model.
- tf-keras: TF-MOT's ``quantize_model`` + ``fit`` (see ``qat_keras``); the TFLite
  converter reads the learned ranges. ONNX is refused (see ``converters.onnx``).
- Keras 3: refused (TF-MOT takes tf-keras models only).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.compress.training import TrainConfig, recipe_data
from edgepress.errors import BadInputError, DataError
from edgepress.passes import describe, register
from edgepress.quantization import Mode, QuantSpec, Training

TORCH_QUANTIZER = "PT2E XNNPACKQuantizer (symmetric int8, quantization-aware training)"
KERAS_QUANTIZER = "TF-MOT quantize_model (8-bit default scheme, quantization-aware training)"
OBSERVE_SAMPLES = 512  # samples that set activation ranges before training (see _observe)


@register
@dataclass(frozen=True)
class QuantizeQat:
    """Fine-tune with fake INT8 quantization for ``epochs`` on labelled ``data``.

    ``data`` is a ``.npz`` with ``x`` and integer labels ``y`` (or ``digits``, the demo's
    training split). ``lr`` is small on purpose: the model is already trained.
    ``per_channel = false`` (per-tensor weights) is for PyTorch; TF-MOT has no such switch.
    """

    name: ClassVar[str] = "quantize.qat"
    summary: ClassVar[str] = "quantization-aware training (PT2E XNNPACK QAT on PyTorch, TF-MOT on tf-keras); fine-tunes on labelled data"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.KERAS})

    data: str = ""
    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    per_channel: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise BadInputError(f"quantization-aware training needs epochs >= 1, got {self.epochs}; for no training use quantize.int8_static")
        self.config().check()

    def output_format(self, source: Format) -> Format:
        return source

    def config(self, progress: bool | None = None) -> TrainConfig:
        # patience = epochs: train every epoch asked for, keep the best one on validation.
        return TrainConfig(self.epochs, self.batch_size, self.lr, alpha=1.0, patience=self.epochs, seed=self.seed, progress=progress)

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        x, y = recipe_data(self.data, self.name)
        return qat_artifact(self, artifact, x, y)


def qat(
    model: Artifact,
    data: Any,
    *,
    epochs: int = 3,
    lr: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    per_channel: bool = True,
    progress: bool | None = None,
) -> Artifact:
    """Quantization-aware training on labelled ``data`` (``edgepress.quantize(m, "qat", ...)``).

    Example:
        >>> q = qat(model, (x_train, y_train), epochs=3)
        >>> edgepress.convert(q, ["executorch"], out_dir="out")
    """
    from edgepress.data import arrays_label, training_arrays

    if model.format not in QuantizeQat.accepts:
        raise BadInputError(f"quantization-aware training takes an in-memory PyTorch or tf-keras model; got a {model.format.value} model")
    if data is None:
        raise DataError("quantization-aware training needs labelled data: calibration=(x_train, y_train), a .npz with x and y, or a DataLoader")
    x, y = training_arrays(data)
    p = QuantizeQat(data=arrays_label(x, y), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, per_channel=per_channel)
    return qat_artifact(p, model, x, y, progress)


def qat_artifact(p: QuantizeQat, source: Artifact, x: Any, y: Any, progress: bool | None = None) -> Artifact:
    """Train a quantization-aware copy of ``source``'s model; returns the quantized handle."""
    x = _channels_last(source, x)
    _check_model(source, x, y, p.per_channel)
    if source.format is Format.KERAS:
        from edgepress.compress.qat_keras import qat_keras

        model, log = qat_keras(p, source, x, y, progress)
        quantizer = KERAS_QUANTIZER
    else:
        model, log = _qat_torch(p, source, x, y, progress)
        quantizer = TORCH_QUANTIZER
    spec = QuantSpec(Mode.QAT, p.per_channel, training=Training(p.epochs, p.lr, int(len(y)), quantizer))
    report = {**source.report, "name": f"{source.stem}_qat", "training": log}
    # In memory (see quantize.model_handle): a float file's path would name the outputs, and the
    # isolated converters would load the float model instead of the trained one.
    return source.derive(path=None, side_files=(), sha256=_digest(p, source, x, y), lineage=(*source.lineage, describe(p)), report=report, model=model, quant=spec)


def _qat_torch(p: QuantizeQat, source: Artifact, x: Any, y: Any, progress: bool | None) -> tuple[Any, dict[str, Any]]:
    """prepare_qat_pt2e -> fit -> convert_pt2e; returns (TorchModel of the converted program, training log)."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e
    from torchao.quantization.pt2e.utils import _fuse_conv_bn_

    from edgepress.compress.training import fit_torch
    from edgepress.intake.torch import TorchModel

    graph = _training_graph(source)
    # BatchNorm is folded into its convolution first, statistics frozen, as is usual when
    # fine-tuning a trained model at a small learning rate. torchao's trainable conv-bn
    # path costs ~100 pattern exports in convert_pt2e (30-60 s on a 2-core CPU), and the
    # deployed graph folds BatchNorm anyway. prepare_pt2e (post-training) does the same.
    _fuse_conv_bn_(graph)
    prepared = prepare_qat_pt2e(graph, _quantizer(p.per_channel))
    allow_exported_model_train_eval(prepared)  # the trainer switches train/eval: BatchNorm and dropout follow
    _observe(prepared, x, p.seed)
    log = fit_torch(prepared, x, y, p.config(progress))
    # Weights stay float + quantize ops: litert-torch lowers only that form; the
    # ExecuTorch and ONNX converters fold them to int8 (converters/pt2e.fold_weights).
    converted = convert_pt2e(prepared, fold_quantize=False)
    converted.training = False  # exported modules refuse .eval(); converters read the flag
    return TorchModel(converted, source.model.example_inputs), log.to_dict()


def _observe(prepared: Any, x: Any, seed: int) -> None:
    """Set activation ranges from a seeded sample before training.

    The trainer keeps the best epoch and may keep the state it started from; without this
    that state's fake quantizers have seen nothing and convert with placeholder ranges.
    """
    import numpy as np
    import torch

    chosen = np.random.default_rng(seed).permutation(len(x))[:OBSERVE_SAMPLES]
    with torch.no_grad():
        for begin in range(0, len(chosen), 128):
            prepared(torch.as_tensor(x[chosen[begin : begin + 128]], dtype=torch.float32))


def _check_model(source: Artifact, x: Any, y: Any, per_channel: bool) -> None:
    """Refuse what cannot be trained here before any work: Keras 3, nothing to quantize, misfit data."""
    from edgepress.compress.quantizable import check_torch_quantizable

    if source.format is Format.KERAS:
        want, classes = _keras_shapes(source, per_channel)
    else:
        _check_trainable_batch(source)
        check_torch_quantizable(source.model.module)
        want, classes = tuple(source.model.example_inputs[0].shape[1:]), _torch_classes(source)
    if len(source.input_spec.tensors) != 1 or tuple(x.shape[1:]) != want:
        raise DataError(f"training inputs are shaped {tuple(x.shape[1:])} per sample; the model takes one input shaped {want}")
    if int(y.min()) < 0 or int(y.max()) >= classes:
        raise DataError(f"labels must be class indices in [0, {classes}) for this model's {classes} outputs; got {int(y.min())}..{int(y.max())}")


def _keras_shapes(source: Artifact, per_channel: bool) -> tuple[tuple[Any, ...], int]:
    """(input shape per sample, number of classes) of a Keras model TF-MOT can train."""
    from edgepress.compress.quantizable import check_keras_quantizable
    from edgepress.intake.keras import TF_KERAS, keras_model

    held = keras_model(source)
    if held.flavor != TF_KERAS:
        raise BadInputError(
            "quantization-aware training of Keras models uses TF-MOT, which takes tf-keras (Keras 2) models only; "
            "rebuild the model with tf_keras, or quantize this Keras 3 model after training: "
            "edgepress.quantize(model, \"int8\", calibration=x) (quantize.int8_static)"
        )
    if not per_channel:
        raise BadInputError("TF-MOT's 8-bit scheme quantizes convolution weights per channel and has no per-tensor switch; leave per_channel on for Keras models")
    check_keras_quantizable(held.model)
    return tuple(held.model.inputs[0].shape[1:]), int(held.model.outputs[0].shape[-1])


def _check_trainable_batch(source: Artifact) -> None:
    """Training feeds batches of many sizes: a program exported at a fixed batch takes only its own."""
    dims = getattr(source.model, "dynamic_dims", None)
    first = source.input_spec.tensors[0].shape if source.input_spec.tensors else ()
    if dims is not None and first and isinstance(first[0], int):
        raise BadInputError(
            f"quantization-aware training feeds batches of samples, and this .pt2 was exported at a fixed batch of {first[0]} "
            "(torch.export specialises the graph to it); re-export it with dynamic_shapes=({0: torch.export.Dim('batch')},), "
            "pass the nn.Module with --factory, or use post-training quantization (--mode int8)"
        )


def _torch_classes(source: Artifact) -> int:
    import torch

    with torch.no_grad():
        return int(source.model.module(*source.model.example_inputs).shape[-1])


def _channels_last(source: Artifact, x: Any) -> Any:
    """NCHW images (the built-in digits) transposed for a channels-last Keras model; else unchanged."""
    import numpy as np

    want = tuple(source.input_spec.tensors[0].shape[1:])
    if source.format is Format.KERAS and x.ndim == 4 and tuple(x.shape[1:]) != want and x.shape[2:] + x.shape[1:2] == want:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def _training_graph(source: Artifact) -> Any:
    """The source module exported with a dynamic batch (training batches vary in size)."""
    import torch

    examples = tuple(t[:1].expand(2, *t.shape[1:]).contiguous() for t in source.model.example_inputs)  # size 1 would be specialised
    batch = torch.export.Dim("batch", min=1, max=4096)  # the range every edgepress export uses (common.batch_dynamic_shapes)
    module = copy.deepcopy(source.model.module)  # the input model is never changed
    return torch.export.export(module, examples, dynamic_shapes=tuple({0: batch} for _ in examples)).module()


def _quantizer(per_channel: bool) -> Any:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel, is_qat=True))


def _digest(p: QuantizeQat, source: Artifact, x: Any, y: Any) -> str:
    """Content address: the source, the options and the training data (training is seeded)."""
    import numpy as np

    data = hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()
    return hashlib.sha256(json.dumps([source.sha256, describe(p), data]).encode()).hexdigest()
