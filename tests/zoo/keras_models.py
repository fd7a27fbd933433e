"""Keras models users bring, built and saved as users do: keras.applications networks in
Keras 3 (``.keras``) and a small tf-keras CNN trained for an epoch (``.h5``).

Untrained applications with weights=None give near-constant outputs (MobileNetV3Small's
logits are ~1e-10 for any image), so any artifact would "match" them. Each network's
BatchNorm statistics are set from a batch of images (one training-mode call with momentum
0), as training would, so the outputs depend on the input and drift means something.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class KerasBuilt:
    """A saved Keras model and the images it takes (NHWC float32)."""

    path: Path
    image_shape: tuple[int, int, int]
    pixel_range: tuple[float, float]  # the applications rescale 0..255 themselves
    model: Any = field(default=None, compare=False, repr=False)  # the model as built, to compare against

    def images(self, count: int, seed: int) -> np.ndarray:
        low, high = self.pixel_range
        return np.random.default_rng(seed).uniform(low, high, (count, *self.image_shape)).astype(np.float32)


def _set_batch_norm_statistics(model: object, images: np.ndarray) -> None:
    """Moving mean/variance of every BatchNormalization = its statistics on ``images``."""
    import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer in layers:
        layer.momentum = 0.99


def _application(folder: Path, name: str, build: Callable[..., object], side: int) -> KerasBuilt:
    import keras

    keras.utils.set_random_seed(0)
    model = build(weights=None, input_shape=(side, side, 3), classes=10, classifier_activation=None)
    built = KerasBuilt(folder / f"{name}.keras", (side, side, 3), (0.0, 255.0), model)
    _set_batch_norm_statistics(model, built.images(16, seed=100))
    model.save(built.path)
    return built


def mobilenet_v3_small(folder: Path) -> KerasBuilt:
    import keras

    return _application(folder, "mnv3s", keras.applications.MobileNetV3Small, 96)


def efficientnet_b0(folder: Path) -> KerasBuilt:
    import keras

    return _application(folder, "effb0", keras.applications.EfficientNetB0, 64)


def tf_keras_cnn(folder: Path) -> KerasBuilt:
    """A tf-keras CNN compiled, fitted for one epoch and saved as .h5 (legacy Keras 2 users)."""
    import tf_keras as k

    k.utils.set_random_seed(0)
    model = k.Sequential([
        k.layers.Input((32, 32, 3)), k.layers.Conv2D(16, 3, activation="relu"), k.layers.BatchNormalization(),
        k.layers.MaxPooling2D(), k.layers.Conv2D(32, 3, activation="relu"), k.layers.GlobalAveragePooling2D(), k.layers.Dense(10),
    ])
    model.compile("adam", k.losses.SparseCategoricalCrossentropy(from_logits=True))
    built = KerasBuilt(folder / "tfk_cnn.h5", (32, 32, 3), (-2.0, 2.0), model)
    x = built.images(64, seed=100)
    model.fit(x, np.random.default_rng(0).integers(0, 10, 64), epochs=1, verbose=0)
    model.save(built.path)
    return built


def tf_keras_qat_cnn(folder: Path) -> KerasBuilt:
    """A tf-keras CNN TF-MOT can train quantization-aware (no BatchNormalization after an activation)."""
    import tf_keras as k

    k.utils.set_random_seed(0)
    model = k.Sequential([
        k.layers.Input((16, 16, 3)), k.layers.Conv2D(8, 3, activation="relu"), k.layers.Conv2D(16, 3, activation="relu"),
        k.layers.GlobalAveragePooling2D(), k.layers.Dense(10),
    ])
    built = KerasBuilt(folder / "qat_cnn.h5", (16, 16, 3), (-2.0, 2.0), model)
    model.save(built.path)
    return built


KERAS_ZOO: dict[str, Callable[[Path], KerasBuilt]] = {
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
    "tf_keras_cnn": tf_keras_cnn,
}
