"""Fixtures for compression tests: the digits CNN and a small slice of its data."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits():
    from edgepress.digits import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def digits_model(digits):
    import torch

    import edgepress
    from edgepress.digits import trained_digits_cnn

    return edgepress.from_torch(trained_digits_cnn(digits), torch.from_numpy(digits.x_test[:1]), name="digits_cnn")


def accuracy(artifact, x, y) -> float:
    """Top-1 accuracy of an in-memory PyTorch artifact on numpy data."""
    import torch

    with torch.no_grad():
        return float((artifact.model.module(torch.from_numpy(x)).argmax(-1).numpy() == y).mean())
