"""``edgepress run recipe.toml`` and ``edgepress.run_recipe``: a model, a pass chain, measurement."""

import numpy as np
import pytest

RECIPE = """
[model]
factory = "tests.models:make_residual_net"
input_shape = [1, 3, 16, 16]

[output]
dir = "{out}"

[[pass]]
name = "prune.channels"
ratio = 0.5

[[pass]]
name = "distill.kd"
data = "{data}"
epochs = 1

[[pass]]
name = "convert.onnx"
"""


@pytest.fixture
def train_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "train.npz"
    np.savez(path, x=rng.standard_normal((40, 3, 16, 16)).astype(np.float32), y=rng.integers(0, 10, 40))
    return path


def _recipe(tmp_path, train_npz, extra=""):
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE.format(out=tmp_path / "out", data=train_npz) + extra)
    return path


def test_run_recipe_from_the_cli(cli, tmp_path, train_npz):
    extra = f'\n[bench]\ntarget = "host-cpu"\ndata = "{train_npz}"\n'
    proc = cli("run", _recipe(tmp_path, train_npz, extra))
    assert proc.returncode == 0, proc.stderr
    assert "prune.channels" in proc.stdout and "distill.kd" in proc.stdout and "convert.onnx" in proc.stdout
    assert (tmp_path / "out" / "make_residual_net.onnx").exists() and (tmp_path / "out" / "results.json").exists()


def test_run_recipe_from_python(tmp_path, train_npz):
    import edgepress

    run = edgepress.run_recipe(_recipe(tmp_path, train_npz), out_dir=tmp_path / "elsewhere")
    assert [a.format.value for a in run.steps] == ["torch", "torch", "onnx"]
    pruned, tuned, onnx_art = run.steps
    assert pruned.report["stats"]["params"] < 0.4 * pruned.report["source_stats"]["params"]
    assert onnx_art.path.parent == tmp_path / "elsewhere"
    assert onnx_art.lineage[:2] == (pruned.lineage[0], tuned.lineage[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[pass]]\nname = "convert.onnx"\n', "needs a 'model' table"),
        ('[model]\nbuiltin = "mnist"\n[[pass]]\nname = "convert.onnx"\n', "unknown builtin model 'mnist'"),
        ('[model]\nbuiltin = "digits"\n[[pass]]\nname = "prune.magnitude"\nsparsity = 1.5\n', "sparsity must be between 0 and 1"),
        ('[model]\nbuiltin = "digits"\n[[pass]]\nname = "prune.chanels"\n', "did you mean 'prune.channels'"),
    ],
)
def test_bad_recipes_exit_2_with_one_line(cli, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = cli("run", path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]
