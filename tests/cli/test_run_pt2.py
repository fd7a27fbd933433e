"""``edgepress run`` on a recipe whose [model] is the user's own .pt2 (static batch 1, saved the default way)."""

import json

import numpy as np
import pytest

from tests.cli.test_cli import _one_error_line


@pytest.fixture
def user_pt2(tmp_path):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 4)).eval()
    torch.export.save(torch.export.export(net, (torch.randn(1, 3, 16, 16),)), str(tmp_path / "net.pt2"))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.random((8, 3, 16, 16), dtype=np.float32), y=rng.integers(0, 4, 8))
    return tmp_path / "net.pt2"


@pytest.mark.slow
def test_a_pt2_recipe_quantizes_converts_and_measures(cli, user_pt2, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        '[model]\npath = "net.pt2"\n[output]\ndir = "out"\n'
        '[[pass]]\nname = "quantize.int8_static"\ndata = "calib.npz"\n[[pass]]\nname = "convert.onnx"\n'
        '[bench]\ntarget = "host-cpu"\ndata = "calib.npz"\n'
    )
    proc = cli("run", recipe)
    assert proc.returncode == 0, proc.stderr
    assert "quantize.int8_static" in proc.stdout and "convert.onnx" in proc.stdout
    made = tmp_path / "out" / "net_int8.onnx"
    assert made.exists() and made.stat().st_size < 0.5 * user_pt2.stat().st_size
    (result,) = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert result["error"] is None and result["drift"]["cosine"] > 0.99


def test_a_pt2_recipe_that_prunes_is_refused_up_front(cli, user_pt2, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\npath = "net.pt2"\n[output]\ndir = "out"\n[[pass]]\nname = "prune.channels"\nratio = 0.5\n')
    proc = cli("run", recipe)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "'prune.channels' edits a PyTorch module's layers" in line and "quantize.* and convert.*" in line
    assert not (tmp_path / "out").exists()
