"""The built-in digits: scikit-learn's 1,797 8x8 handwritten digits and a small CNN trained on them.

The only module that knows "digits": the demo, recipe files and sweep grids
(``[model] builtin = "digits"``, ``data = "digits"``) and distillation all come here. Real
labelled data, a few seconds of training on a CPU, the weights cached so later runs skip it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepress import cachedir

if TYPE_CHECKING:
    import numpy as np

    from edgepress.artifact import Artifact

NAME = "digits"  # the built-in model's and data's name in recipes and grids
MODEL_NAME = "digits_cnn"  # the trained CNN handle's name (its files are digits_cnn.onnx, ...)
DATA_ID = "sklearn-digits-test-split-0.2-seed0"  # the held-out split, as a sweep's cache key names it
WEIGHTS_VERSION = 1  # bump when the CNN or its training changes: old cached weights are then ignored
SEED = 0


@dataclass(frozen=True)
class DigitsSplit:
    """Digits images as float32 N x 1 x 8 x 8 in [0, 1], with integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(test_fraction: float = 0.2) -> DigitsSplit:
    """scikit-learn's digits, split with a fixed seed."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=SEED, stratify=y)
    return DigitsSplit(x_tr, y_tr, x_te, y_te)


def digits_cnn(width: int = 32) -> Any:
    """Conv-BN-ReLU x2, a residual conv block, global average pooling, a linear classifier.

    ``width`` is the channel count of the first two convolutions (the head has 64, or
    ``width`` if larger); the demo uses 32 (29k parameters).
    """
    import torch
    from torch import nn

    head = max(64, width)

    class DigitsCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
            self.head = nn.Sequential(nn.Conv2d(width, head, 3, stride=2, padding=1), nn.BatchNorm2d(head), nn.ReLU())
            self.classifier = nn.Linear(head, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.stem(x)
            y = y + self.block(y)
            y = self.head(y)
            return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))

    return DigitsCNN()


def trained_digits_cnn(split: DigitsSplit, epochs: int = 12, width: int = 32) -> Any:
    """The demo CNN (``width`` as in ``digits_cnn``), trained on ``split`` (or loaded from the cache, weights_only=True)."""
    import torch

    model = digits_cnn(width)
    suffix = "" if width == 32 else f"-w{width}"
    weights = weights_path(suffix)
    if weights.exists():
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return model.eval()
    train(model, split.x_train, split.y_train, epochs)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, weights)
    return model.eval()


def train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 3e-3, batch: int = 64) -> None:
    """Plain seeded Adam training with cross-entropy."""
    import torch

    torch.manual_seed(SEED)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        for begin in range(0, len(xt), batch):
            idx = order[begin : begin + batch]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
    model.eval()


def weights_path(suffix: str = "") -> Path:
    """The cached weights of the trained CNN (``suffix`` tells widths apart)."""
    return cachedir.part("demo") / f"digits_cnn-v{WEIGHTS_VERSION}{suffix}.pt"


def train_npz() -> Path:
    """The training split as ``x``/``y`` arrays in the cache (written once, atomically), for passes that read a file."""
    import tempfile

    import numpy as np

    path = cachedir.part("data") / "digits-train.npz"
    if not path.exists():
        split = load_digits_split()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, x=split.x_train, y=split.y_train)
        os.replace(tmp, path)
    return path


def train_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The training split as (images, labels)."""
    split = load_digits_split()
    return split.x_train, split.y_train


def held_out_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The held-out split as (images, labels): what recipes and grids measure on."""
    split = load_digits_split()
    return split.x_test, split.y_test


def model() -> Artifact:
    """The trained CNN as a handle (trained once, then loaded from the cache)."""
    import torch

    from edgepress.intake.torch import from_torch

    split = load_digits_split()
    return from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name=MODEL_NAME)
