"""Small test models, made by the tests themselves."""

from __future__ import annotations

import torch
from torch import nn


class ResidualNet(nn.Module):
    """Conv + BatchNorm + GELU, a residual add, global average pooling, a classifier."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.gelu(self.bn(self.conv(x)))
        y = y + nn.functional.gelu(self.bn2(self.conv2(y)))
        return self.fc(y.mean(dim=(2, 3)))


def residual_net(seed: int = 0) -> ResidualNet:
    """A ResidualNet with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = ResidualNet()
    with torch.no_grad():
        for bn in (net.bn, net.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return net.eval()


def make_residual_net() -> ResidualNet:
    """Factory for the CLI's --factory tests (tests.models:make_residual_net)."""
    return ResidualNet()


class Mlp(nn.Module):
    """Two hidden layers with ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MobileCnn(nn.Module):
    """Conv-BN-ReLU6, depthwise conv, pointwise conv, residual add, hardswish, global pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6())
        self.depthwise = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU6())
        self.pointwise = nn.Sequential(nn.Conv2d(16, 16, 1), nn.BatchNorm2d(16))
        self.act = nn.Hardswish()
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        y = self.act(y + self.pointwise(self.depthwise(y)))
        return self.fc(nn.functional.adaptive_avg_pool2d(y, 1).flatten(1))


class EncoderBlock(nn.Module):
    """Pre-LN transformer encoder block: LayerNorm, softmax attention, GELU MLP."""

    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialise deterministically and give BatchNorm non-trivial statistics."""
    torch.manual_seed(seed)
    for layer in module.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
        if isinstance(layer, nn.BatchNorm2d):
            with torch.no_grad():
                layer.running_mean.uniform_(-0.3, 0.3)
                layer.running_var.uniform_(0.5, 1.5)
    return module.eval()


def keras_cnn(flavor: str):
    """The MobileCnn idea in Keras (NHWC): Conv-BN-ReLU6, depthwise, residual add, pooling."""
    import importlib

    k = importlib.import_module("keras" if flavor == "keras3" else "tf_keras")
    inputs = k.Input((16, 16, 3), name="image")
    y = k.layers.ReLU(6.0)(k.layers.BatchNormalization()(k.layers.Conv2D(16, 3, strides=2, padding="same")(inputs)))
    z = k.layers.ReLU(6.0)(k.layers.BatchNormalization()(k.layers.DepthwiseConv2D(3, padding="same")(y)))
    z = k.layers.BatchNormalization()(k.layers.Conv2D(16, 1)(z))
    out = k.layers.Dense(10)(k.layers.GlobalAveragePooling2D()(k.layers.Add()([y, z])))
    return k.Model(inputs, out)


def varied_inputs(n: int, seed: int = 0, shape: tuple[int, ...] = (3, 16, 16)):
    """Gaussian images with a random per-sample channel offset.

    Pure noise averages out in global pooling, so a small random net predicts one class
    for every noise image and top-1 agreement turns on near-ties; the offsets spread its
    predictions over several classes, so an agreement score measures something.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, *shape)) + 2 * rng.standard_normal((n, shape[0], 1, 1))).astype(np.float32)


def per_tensor_trap(seed: int = 0) -> ResidualNet:
    """A ResidualNet that per-tensor INT8 weights break and per-channel ones do not.

    One channel of the first conv is always zero (its GELU input is -6), and one output
    channel of the second conv gives that dead channel a weight of 1e4: the float model
    is unchanged, but a single weight scale for the whole second conv rounds every other
    weight of it to zero, while per-channel scales confine the damage to one channel.
    """
    net = residual_net(seed)
    dead, outlier = 3, 5
    with torch.no_grad():
        bn = net.bn
        std = (bn.running_var[dead] + bn.eps).sqrt()
        net.conv.weight[dead] = 0.0
        net.conv.bias[dead] = (-6.0 - bn.bias[dead]) * std / bn.weight[dead] + bn.running_mean[dead]
        net.conv2.weight[outlier, dead] = 1e4
    return net
