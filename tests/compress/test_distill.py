"""distill.kd: distillation and plain fine-tuning on the digits CNN; training data adapters."""

import numpy as np
import pytest

import edgepress
from edgepress.compress.training import kd_loss
from edgepress.data import training_arrays
from edgepress.errors import BadInputError, DataError
from edgepress.passes import Recipe
from tests.compress.conftest import accuracy

SMALL = 500  # training samples used by these tests (seconds per epoch on a CPU)


@pytest.fixture(scope="module")
def pruned(digits_model):
    return edgepress.prune(digits_model, "channels", ratio=0.5, round_to=8)


@pytest.fixture(scope="module")
def small_data(digits):
    return digits.x_train[:SMALL], digits.y_train[:SMALL]


def test_distillation_wins_accuracy_back(digits_model, pruned, small_data, digits):
    before = accuracy(pruned, digits.x_test, digits.y_test)
    tuned = edgepress.distill(teacher=digits_model, student=pruned, data=small_data, epochs=4, progress=False)
    after = accuracy(tuned, digits.x_test, digits.y_test)
    assert after > before + 0.3 and after > 0.8
    log = tuned.report["training"]
    assert 1 <= log["best_epoch"] <= log["epochs_run"] <= 4 and len(log["val_accuracy"]) == log["epochs_run"]
    assert tuned.report["teacher"] == digits_model.sha256
    assert tuned.report["stats"]["params"] == pruned.report["stats"]["params"]
    assert tuned.lineage == (*pruned.lineage, tuned.lineage[-1]) and tuned.lineage[-1].startswith("distill.kd(")
    assert accuracy(pruned, digits.x_test, digits.y_test) == before  # the student artifact is untouched


def test_training_is_seeded(pruned, small_data):
    runs = [edgepress.distill(teacher=None, student=pruned, data=small_data, epochs=1, seed=3, progress=False) for _ in range(2)]
    assert runs[0].sha256 == runs[1].sha256
    assert runs[0].report["training"] == runs[1].report["training"]
    other = edgepress.distill(teacher=None, student=pruned, data=small_data, epochs=1, seed=4, progress=False)
    # Compare the runs, not the weights kept: when an epoch does not beat the starting
    # validation score, distill returns the student's own weights, whatever the seed.
    assert other.report["training"]["train_loss"] != runs[0].report["training"]["train_loss"]


def test_plain_fine_tuning_and_early_stopping(pruned, small_data):
    tuned = edgepress.distill(teacher=None, student=pruned, data=small_data, epochs=30, patience=1, lr=0.05, progress=False)
    log = tuned.report["training"]
    assert tuned.report["teacher"] is None
    assert log["stopped_early"] and log["epochs_run"] < 30


def test_pruned_zeros_stay_zero_through_distillation(digits_model, small_data):
    sparse = edgepress.prune(digits_model, "magnitude", sparsity=0.7)
    tuned = edgepress.distill(teacher=digits_model, student=sparse, data=small_data, epochs=1, progress=False)
    assert tuned.report["stats"]["sparsity"] >= sparse.report["stats"]["sparsity"] >= 0.69


def test_student_with_other_outputs_is_a_clear_error(digits_model, small_data):
    from torch import nn

    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 7))
    with pytest.raises(BadInputError, match=r"output shape \(1, 7\) differs from the teacher's \(1, 10\)"):
        edgepress.distill(teacher=digits_model, student=student, data=small_data, epochs=1)


def test_user_supplied_small_student(digits_model, small_data, digits):
    from torch import nn

    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    tuned = edgepress.distill(teacher=digits_model, student=student, data=small_data, epochs=20, patience=20, progress=False)
    assert accuracy(tuned, digits.x_test, digits.y_test) > 0.8


@pytest.mark.parametrize("bad", [{"alpha": 1.5}, {"temperature": 0}, {"epochs": -1}, {"val_fraction": 1.0}])
def test_bad_training_settings(pruned, small_data, bad):
    with pytest.raises(BadInputError):
        edgepress.distill(teacher=None, student=pruned, data=small_data, **bad)


def test_kd_loss_is_the_documented_formula():
    import torch
    import torch.nn.functional as F

    s, t, y = torch.randn(4, 10), torch.randn(4, 10), torch.tensor([1, 2, 3, 4])
    T, a = 3.0, 0.25
    kl = (F.softmax(t / T, -1) * (F.log_softmax(t / T, -1) - F.log_softmax(s / T, -1))).sum(-1).mean()
    want = a * F.cross_entropy(s, y) + (1 - a) * T * T * kl
    assert torch.allclose(kd_loss(s, y, t, a, T), want, atol=1e-5)
    assert torch.allclose(kd_loss(s, y, None, a, T), F.cross_entropy(s, y))


def test_recipe_pass_teaches_with_the_origin(digits_model, digits, tmp_path):
    data = tmp_path / "train.npz"
    np.savez(data, x=digits.x_train[:200], y=digits.y_train[:200])
    recipe = Recipe.from_dict({"pass": [{"name": "prune.channels"}, {"name": "distill.kd", "data": str(data), "epochs": 1}]})
    _pruned, tuned = recipe.run(digits_model, tmp_path / "out")
    assert tuned.report["teacher"] == digits_model.sha256


def test_recipe_pass_without_data_says_how_to_give_it(pruned):
    from edgepress.passes import apply, create

    with pytest.raises(DataError, match=r"needs training data: set data = \"train.npz\""):
        apply(create("distill.kd"), pruned, ".")


def test_training_arrays_adapters(tmp_path):
    import torch

    x, y = np.zeros((6, 1, 8, 8), np.float32), np.arange(6) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=4)
    for data in ((x, y), (torch.from_numpy(x), torch.from_numpy(y)), tmp_path / "d.npz", str(tmp_path / "d.npz"), loader):
        got_x, got_y = training_arrays(data)
        assert got_x.shape == x.shape and list(got_y) == list(y)
    np.savez(tmp_path / "nolabels.npz", x=x)
    with pytest.raises(DataError, match="needs 'x'"):
        training_arrays(tmp_path / "nolabels.npz")
    with pytest.raises(DataError, match="one integer per sample"):
        training_arrays((x, y[:3]))
    with pytest.raises(DataError, match="does not exist"):
        training_arrays(tmp_path / "missing.npz")
