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
