"""Quantization-aware training of tf-keras models with TF-MOT (``quantize.qat`` on Keras).

``tfmot.quantization.keras.quantize_model`` wraps each layer with fake quantizers
(TF-MOT's default 8-bit scheme, the one the TFLite converter expects: per-channel
convolution weights, with no per-tensor switch); ``fit`` then learns weights and
activation ranges together. The TFLite
converter with ``Optimize.DEFAULT`` reads those ranges and writes int8 kernels.
"""

from __future__ import annotations

import re
from typing import Any

from edgepress.artifact import Artifact
from edgepress.errors import BadInputError


def qat_keras(p: Any, source: Artifact, x: Any, y: Any, progress: bool | None) -> tuple[Any, dict[str, Any]]:
    """(KerasModel of the trained quantization-aware copy, training log) for a tf-keras ``source``."""
    import numpy as np
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from edgepress.compress.keras_prune import clone
    from edgepress.compress.keras_train import _split
    from edgepress.intake.keras import TF_KERAS, KerasModel, keras_model

    config = p.config(progress)
    tf_keras.utils.set_random_seed(p.seed)
    model = _quantize_aware(tfmot, clone(keras_model(source).model, TF_KERAS))
    model.compile(
        optimizer=tf_keras.optimizers.Adam(p.lr),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),  # edgepress models output logits
        metrics=["accuracy"],
    )
    train, val = _split(np.asarray(x, np.float32), np.asarray(y, np.int64), config)
    # Keep the best epoch on validation, as the PyTorch trainer does (patience = epochs: no early stop).
    best = tf_keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=p.epochs, restore_best_weights=True)
    history = model.fit(*train, validation_data=val, batch_size=p.batch_size, epochs=p.epochs, verbose=0, callbacks=[best, _progress(config)])
    log = {
        "epochs_run": len(history.history["loss"]),
        "best_epoch": best.best_epoch + 1,
        "train_loss": [round(float(v), 5) for v in history.history["loss"]],
        "val_accuracy": [round(float(v), 5) for v in history.history["val_accuracy"]],
    }
    return KerasModel(model, TF_KERAS), log


def _quantize_aware(tfmot: Any, model: Any) -> Any:
    """TF-MOT's ``quantize_model``; a layer its 8-bit scheme cannot wrap is a BadInputError."""
    try:
        return tfmot.quantization.keras.quantize_model(model)
    except RuntimeError as exc:
        found = re.match(r"Layer (\S+):<class '[\w.]*?(\w+)'> is not supported", str(exc))
        if found is None:
            raise
        name, kind = found.groups()
        why = (
            "TF-MOT folds a BatchNormalization only into a Conv2D, DepthwiseConv2D or Dense right before it that has no activation "
            "of its own: build it as Conv2D(activation=None) -> BatchNormalization -> ReLU"
            if "BatchNormalization" in kind else "TF-MOT's 8-bit scheme has no rule for this layer type"
        )
        raise BadInputError(
            f"TF-MOT's quantization-aware training cannot wrap layer {name!r} ({kind}) where it stands in this model ({why}); "
            "quantize with mode int8 (post-training calibration) instead"
        ) from None


def _progress(config: Any) -> Any:
    """A Keras callback driving the trainers' rich progress bar (shown when stderr is a terminal)."""
    import tf_keras

    from edgepress.compress.training import ProgressBar as bar

    class Progress(tf_keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.bar = bar(config)
            self.advance = self.bar.__enter__()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.advance(epoch + 1, float(logs["loss"]), float(logs.get("val_accuracy", 0.0)))

        def on_train_end(self, logs: Any = None) -> None:
            self.bar.__exit__(None, None, None)

    return Progress()
