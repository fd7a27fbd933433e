"""prune.magnitude, prune.n_m and prune.channels on real models, converted and measured."""

import pytest

import edgepress
from edgepress.stats import gzip_size
from edgepress.errors import BadInputError
from edgepress.passes import create
from tests.compress.conftest import accuracy


def _weights(artifact):
    return {k: v.clone() for k, v in artifact.model.module.state_dict().items()}


def test_magnitude_global_reaches_target_and_leaves_the_input_alone(torch_model):
    before = _weights(torch_model)
    pruned = edgepress.prune(torch_model, "magnitude", sparsity=0.6)
    stats = pruned.report["stats"]
    assert stats["sparsity"] == pytest.approx(0.6, abs=0.01)
    assert stats["params"] == pruned.report["source_stats"]["params"]  # zeros, not removed weights
    assert "latency does not improve" in pruned.report["note"]
    # masks are permanent: plain weights, no pruning hooks or weight_orig parameters
    names = [n for n, _ in pruned.model.module.named_parameters()]
    assert not any(n.endswith("_orig") for n in names)
    assert all(torch_eq(before[k], v) for k, v in torch_model.model.module.state_dict().items())
    assert pruned.sha256 != torch_model.sha256 and pruned.lineage[-1].startswith("prune.magnitude(sparsity=0.6")


def torch_eq(a, b):
    import torch

    return bool(torch.equal(a, b))


def test_magnitude_per_layer_and_keep(torch_model):
    pruned = edgepress.prune(torch_model, "magnitude", sparsity=0.5, scope="layer", keep="fc")
    layers = pruned.report["stats"]["layers"]
    assert layers["fc.weight"] == 0.0
    assert all(layers[k] == pytest.approx(0.5, abs=0.02) for k in ("conv.weight", "conv2.weight"))


def test_magnitude_zeros_shrink_the_gzip_size_not_the_file(digits_model, tmp_path):
    dense, sparse = (
        edgepress.convert(m, ["onnx"], out_dir=tmp_path / name)[0]
        for name, m in (("dense", digits_model), ("sparse", edgepress.prune(digits_model, "magnitude", sparsity=0.8)))
    )
    assert abs(sparse.size_bytes - dense.size_bytes) < 0.05 * dense.size_bytes
    assert gzip_size(sparse.files) < 0.5 * gzip_size(dense.files)


def test_magnitude_schedule_fine_tunes_while_pruning(digits_model, digits, tmp_path):
    import numpy as np

    data = tmp_path / "train.npz"
    np.savez(data, x=digits.x_train, y=digits.y_train)
    # one-shot 90% leaves the BatchNorm statistics describing weights that are gone: near chance
    one_shot = edgepress.prune(digits_model, "magnitude", sparsity=0.9)
    tuned = edgepress.prune(digits_model, "magnitude", sparsity=0.9, epochs=3, data=str(data))
    assert tuned.report["stats"]["sparsity"] == pytest.approx(0.9, abs=0.01)
    x, y = digits.x_test, digits.y_test
    assert accuracy(tuned, x, y) > accuracy(one_shot, x, y) + 0.5


@pytest.mark.parametrize("sparsity", [0.0, 1.0, 1.5, -0.2])
def test_sparsity_outside_zero_one_is_a_clear_error(torch_model, sparsity):
    with pytest.raises(BadInputError, match=r"sparsity must be between 0 and 1"):
        edgepress.prune(torch_model, "magnitude", sparsity=sparsity)


def test_unknown_method_gets_did_you_mean(torch_model):
    with pytest.raises(BadInputError, match="did you mean 'prune.channels'"):
        edgepress.prune(torch_model, "chanels")


def test_n_m_keeps_two_of_every_four(torch_model):
    pruned = edgepress.prune(torch_model, "n_m")
    w = pruned.model.module.conv2.weight.detach()
    groups = w.permute(0, 2, 3, 1).reshape(w.shape[0], -1, 4)
    assert int((groups != 0).sum(-1).max()) == 2
    # the first conv reduces over 3*3*3 = 27 inputs, not a multiple of 4: left dense and said so
    assert pruned.report["dense_layers"] == ["conv"] and pruned.report["pattern"] == "2:4"
    assert pruned.report["stats"]["layers"]["conv.weight"] == 0.0


def test_n_m_rejects_n_not_below_m(torch_model):
    with pytest.raises(BadInputError, match="0 < n < m"):
        edgepress.prune(torch_model, "n_m", n=4, m=4)


def test_channels_really_shrink_and_keep_the_classifier(torch_model):
    import torch

    pruned = edgepress.prune(torch_model, "channels", ratio=0.5)
    before, after = pruned.report["source_stats"], pruned.report["stats"]
    assert after["params"] < 0.4 * before["params"] and after["macs"] < 0.4 * before["macs"]
    module = pruned.model.module
    assert module.conv.out_channels == 8 and module.fc.out_features == 10
    assert pruned.report["kept_layers"] == ["fc"]
    assert tuple(module(torch.randn(2, 3, 16, 16)).shape) == (2, 10)
    assert torch_model.model.module.conv.out_channels == 16  # the input is untouched


def test_channels_round_to_and_l1(digits_model):
    pruned = edgepress.prune(digits_model, "channels", ratio=0.4, importance="l1", round_to=8)
    module = pruned.model.module
    assert module.stem[0].out_channels % 8 == 0 and module.head[0].out_channels % 8 == 0


@pytest.mark.parametrize("options", [{"ratio": 1.0}, {"ratio": 0.9, "round_to": 16}])
def test_ratio_that_removes_every_channel_is_a_clear_error(torch_model, options):
    with pytest.raises(BadInputError, match="every channel|between 0 and 1"):
        edgepress.prune(torch_model, "channels", **options)


def test_channels_keep_must_name_real_layers(torch_model):
    with pytest.raises(BadInputError, match="does not have"):
        edgepress.prune(torch_model, "channels", keep="classifier")


def test_pruning_options_are_typed():
    with pytest.raises(BadInputError, match="expected global, layer"):
        create("prune.magnitude", {"scope": "everywhere"})


@pytest.mark.slow
def test_channel_pruned_model_converts_to_every_format(digits_model, tmp_path):
    from edgepress.conversion import ConversionFailure

    pruned = edgepress.prune(digits_model, "channels", ratio=0.5, round_to=8)
    made = edgepress.convert(pruned, "all", out_dir=tmp_path, errors="collect")
    failures = [m for m in made if isinstance(m, ConversionFailure)]
    assert not failures, failures
    assert {a.format.value for a in made} >= {"onnx", "pt2"}


def test_channel_pruned_digits_is_smaller_in_params_macs_and_file(digits_model, tmp_path):
    """Speed is measured side by side in benchmarks/pruning.py, not in a timed unit test."""
    from edgepress.stats import model_stats

    pruned = edgepress.prune(digits_model, "channels", ratio=0.5, round_to=8)
    arts = [edgepress.convert(m, ["onnx"], out_dir=tmp_path / n)[0] for n, m in (("dense", digits_model), ("pruned", pruned))]
    dense_stats, small_stats = model_stats(digits_model), model_stats(pruned)
    assert small_stats["params"] < 0.35 * dense_stats["params"]
    assert small_stats["macs"] < 0.5 * dense_stats["macs"]
    assert arts[1].size_bytes < 0.4 * arts[0].size_bytes
