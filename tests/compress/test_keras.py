"""Pruning and distillation of Keras models: Keras 3 (direct masks) and tf-keras (TF-MOT)."""

import numpy as np
import pytest

import edgepress
from edgepress.errors import BadInputError

SMALL = 600


def digits_keras(flavor: str):
    import importlib

    k = importlib.import_module("keras" if flavor == "keras3" else "tf_keras")
    k.utils.set_random_seed(0)
    inputs = k.Input((8, 8, 1), name="image")
    y = k.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    y = k.layers.Conv2D(16, 3, padding="same", activation="relu")(y)
    return k.Model(inputs, k.layers.Dense(10)(k.layers.Flatten()(y)))


@pytest.fixture(scope="module")
def nhwc(digits):
    return digits.x_train[:SMALL].transpose(0, 2, 3, 1), digits.y_train[:SMALL], digits.x_test.transpose(0, 2, 3, 1), digits.y_test


def _accuracy(artifact, x, y):
    return float((np.asarray(artifact.model.model(x, training=False)).argmax(-1) == y).mean())


@pytest.fixture(scope="module", params=["keras3", "tf_keras"])
def trained(request, nhwc):
    x, y, _, _ = nhwc
    untrained = edgepress.from_keras(digits_keras(request.param), name=f"digits_{request.param}")
    return edgepress.distill(teacher=None, student=untrained, data=(x, y), epochs=10, patience=10, progress=False)


def test_plain_fine_tuning_trains_a_keras_model(trained, nhwc):
    assert _accuracy(trained, nhwc[2], nhwc[3]) > 0.8 and trained.report["teacher"] is None


def test_keras_magnitude_and_distillation(trained, nhwc):
    x, y, xt, yt = nhwc
    before = trained.model.model.get_weights()
    sparse = edgepress.prune(trained, "magnitude", sparsity=0.75)
    assert sparse.report["stats"]["sparsity"] > 0.5  # kernels at 75%, biases dense
    assert all(np.array_equal(a, b) for a, b in zip(before, trained.model.model.get_weights()))
    tuned = edgepress.distill(teacher=trained, student=sparse, data=(x, y), epochs=2, progress=False)
    assert tuned.report["stats"]["sparsity"] >= sparse.report["stats"]["sparsity"]
    assert _accuracy(tuned, xt, yt) >= _accuracy(sparse, xt, yt) - 0.02
    assert tuned.model.flavor == trained.model.flavor


def test_keras_n_m_keeps_two_of_four(trained):
    pruned = edgepress.prune(trained, "n_m")
    kernel = np.asarray(pruned.model.model.layers[2].kernel)  # 3x3x16 -> 16: 144 inputs per output
    groups = np.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1, 4)
    assert int((groups != 0).sum(-1).max()) == 2


def test_keras_channel_pruning_is_a_clear_error(trained):
    with pytest.raises(BadInputError, match="prune.channels is implemented for PyTorch"):
        edgepress.prune(trained, "channels")


def test_fine_tuned_pruning_uses_tfmot_on_tf_keras_and_refuses_keras3(trained, nhwc, tmp_path):
    data = tmp_path / "train.npz"
    np.savez(data, x=nhwc[0], y=nhwc[1])
    if trained.model.flavor == "keras3":
        with pytest.raises(BadInputError, match="TF-MOT, which takes tf-keras models only"):
            edgepress.prune(trained, "magnitude", sparsity=0.5, epochs=1, data=str(data))
        return
    pruned = edgepress.prune(trained, "magnitude", sparsity=0.5, schedule="constant", epochs=1, data=str(data))
    kernels = [np.asarray(layer.kernel) for layer in pruned.model.model.layers if hasattr(layer, "kernel")]
    assert all(np.mean(k == 0) == pytest.approx(0.5, abs=0.02) for k in kernels)
    assert not any("prune_low_magnitude" in layer.name for layer in pruned.model.model.layers)  # stripped
