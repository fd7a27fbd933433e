"""The built-in demo: a small CNN trained on scikit-learn's digits, converted and measured.

Real labelled data (1,797 8x8 handwritten digits), a few seconds of training on a CPU,
cached so later runs skip it. The same model serves tests and benchmarks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DEMO_WEIGHTS_VERSION = 1
DEMO_FORMATS = ["pt2", "onnx", "tflite", "executorch", "ptl"]
# ExecuTorch under emulation needs a 600 MB aarch64 torch in the sysroot and minutes per
# import: the demo checks the two light runtimes on ARM; `edgepress bench` can do .pte too.
ARM_DEMO_FORMATS = ("onnx", "tflite")
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


def cache_dir() -> Path:
    """Where trained demo weights are kept: $EDGEPRESS_CACHE, else ~/.cache/edgepress."""
    root = os.environ.get("EDGEPRESS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "edgepress")
    return Path(root)


def trained_digits_cnn(split: DigitsSplit, epochs: int = 12, width: int = 32) -> Any:
    """The demo CNN (``width`` as in ``digits_cnn``), trained on ``split`` (or loaded from the cache, weights_only=True)."""
    import torch

    model = digits_cnn(width)
    suffix = "" if width == 32 else f"-w{width}"
    weights = cache_dir() / "demo" / f"digits_cnn-v{DEMO_WEIGHTS_VERSION}{suffix}.pt"
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


def run_demo(out_dir: Path, settings: Any = None, progress: Any = None) -> list[Any]:
    """Train (or load) the digits CNN, convert it to every format, measure on host-cpu and emulated ARM."""
    import torch

    from edgepress.api import convert
    from edgepress.measure import bench
    from edgepress.intake import from_torch
    from edgepress.report.html import write_html_report
    from edgepress.report.results import write_results

    split = load_digits_split()
    say = progress or (lambda _msg: None)
    say("training the digits CNN (cached after the first run)")
    model = from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name="digits_cnn")
    say(f"converting to {', '.join(DEMO_FORMATS)} (each converter in its own process)")
    artifacts = convert(model, DEMO_FORMATS, out_dir=out_dir)
    say("measuring on host-cpu")
    data = (split.x_test, split.y_test)
    results = bench(artifacts, target="host-cpu", reference=model, data=data, settings=settings, progress=say)
    say("compression chain: prune 50% of channels -> distill from the original -> INT8 -> TFLite")
    small = compression_chain(model, out_dir / "chain")
    results += bench([small], target="host-cpu", reference=model, data=data, settings=settings, progress=say)
    results += _emulated_arm([a for a in artifacts if a.format.value in ARM_DEMO_FORMATS], model, data, settings, say)
    write_results(out_dir / "results.json", results)
    say("writing the HTML report")
    write_html_report(results, out_dir / "report.html", title="edgepress demo: digits CNN")
    return results


# The chain the demo shows: what a user writes in a recipe TOML, as a dict.
CHAIN = [
    {"name": "prune.channels", "ratio": 0.5, "round_to": 8},
    {"name": "distill.kd", "data": "digits", "epochs": 30, "patience": 8},
    {"name": "quantize.int8_static", "data": "digits"},
    {"name": "convert.tflite"},
]


def compression_chain(model: Any, out_dir: Path) -> Any:
    """Run CHAIN on the demo model; returns the INT8 TFLite artifact."""
    from edgepress.passes import Recipe
    from edgepress.recipe_file import with_builtin_data

    recipe = with_builtin_data(Recipe.from_dict({"pass": CHAIN}))
    return recipe.run(model, out_dir)[-1]


def _emulated_arm(artifacts: list[Any], model: Any, data: Any, settings: Any, say: Any) -> list[Any]:
    """The Raspberry Pi 5 CPU under QEMU (correctness and drift), where QEMU is installed."""
    from edgepress.measure import bench
    from edgepress.targets.arm import Arm64Emu

    arm = Arm64Emu()
    runnable = [a for a in artifacts if arm.format_reason(a.format) is None]
    if arm.unavailable_reason() or not runnable:
        say(f"skipping {arm.name}: {arm.unavailable_reason() or 'no artifact it runs'}")
        return []
    say(f"checking on {arm.name} (emulated: drift, not speed)")
    return bench(runnable, target=arm.name, reference=model, data=data, settings=settings, progress=say)
