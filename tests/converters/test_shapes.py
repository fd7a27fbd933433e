"""Models saved the default way: a fixed batch, dict outputs, a dynamic length with or without bounds."""

from __future__ import annotations

import numpy as np
import pytest

import edgepress
from edgepress.errors import BadInputError


def _save(tmp_path, name, module, example, dynamic_shapes=None):
    import torch

    torch.manual_seed(0)
    path = tmp_path / f"{name}.pt2"
    torch.export.save(torch.export.export(module.eval(), (example,), dynamic_shapes=dynamic_shapes), str(path))
    return edgepress.load(path)


def _linear(batch: int, tmp_path):
    import torch

    return _save(tmp_path, f"linear_b{batch}", torch.nn.Linear(4, 3), torch.randn(batch, 4))


def _seq_net():
    import torch

    class SeqNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(4, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean(-1))

    return SeqNet()


@pytest.mark.parametrize("batch", [1, 4])
def test_static_batch_reference_runs_in_chunks_of_its_batch(tmp_path, batch):
    """torch.export at batch 1 (or 4), measured against itself on 6 samples: chunks, a padded last one."""
    ref = _linear(batch, tmp_path)
    x = np.random.default_rng(0).standard_normal((6, 4)).astype("float32")
    arts = edgepress.convert(ref, ["onnx", "executorch"], out_dir=tmp_path / "out")
    results = edgepress.bench(arts, reference=ref, data=x, settings=edgepress.RunSettings(min_iters=2, min_seconds=0, warmup=0))
    for r in results:
        assert r.error is None and r.drift.max_abs < 1e-5, (r.artifact["path"], r.error)
    assert results[0].settings["batch_size"] == batch


def test_dict_outputs_match_in_order_in_every_format(tmp_path):
    import torch

    class Heads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 2)

        def forward(self, x):
            return {"logits": self.a(x), "emb": self.b(x)}

    ref = _save(tmp_path, "heads", Heads(), torch.randn(1, 4))
    arts = edgepress.convert(ref, "all", out_dir=tmp_path / "out")
    assert {a.format.value for a in arts} == {"onnx", "tflite", "executorch", "ptl"}
    x = np.random.default_rng(1).standard_normal((5, 4)).astype("float32")
    for r in edgepress.bench(arts, reference=ref, data=x, settings=edgepress.RunSettings(min_iters=2, min_seconds=0, warmup=0)):
        assert r.error is None and r.drift.max_abs < 1e-5, (r.artifact["path"], r.error)


def test_bounded_length_stays_dynamic_where_the_format_can(tmp_path):
    import torch

    length = torch.export.Dim("T", min=4, max=256)
    ref = _save(tmp_path, "seq", _seq_net(), torch.randn(1, 4, 20), dynamic_shapes=({2: length},))
    assert isinstance(ref.input_spec.shapes[0][2], str)
    for fmt in ("tflite", "ptl"):
        with pytest.raises(BadInputError, match="--input-shape"):
            edgepress.convert(ref, [fmt], out_dir=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    arts = edgepress.convert(ref, "all", out_dir=tmp_path / "out")  # "all": the formats that keep the length
    assert sorted(a.format.value for a in arts) == ["executorch", "onnx"]
    assert all(isinstance(a.input_spec.shapes[0][2], str) for a in arts)
    x = np.random.default_rng(2).standard_normal((3, 4, 50)).astype("float32")  # a length never traced
    for r in edgepress.bench(arts, reference=ref, data=x, settings=edgepress.RunSettings(min_iters=2, min_seconds=0, warmup=0)):
        assert r.error is None and r.drift.max_abs < 1e-5, (r.artifact["path"], r.error)


def test_unbounded_length_refused_by_executorch_and_fixed_by_input_shape(tmp_path):
    import torch

    ref = _save(tmp_path, "useq", _seq_net(), torch.randn(1, 4, 20), dynamic_shapes=({2: torch.export.Dim("T")},))
    with pytest.raises(BadInputError, match="no upper bound"):
        edgepress.convert(ref, ["executorch"], out_dir=tmp_path / "refused")
    fixed = edgepress.load(ref.path, input_shape=(1, 4, 50))
    arts = edgepress.convert(fixed, ["tflite", "executorch"], out_dir=tmp_path / "out")
    assert [a.input_spec.shapes[0] for a in arts] == [(1, 4, 50), (1, 4, 50)]
    x = np.random.default_rng(3).standard_normal((2, 4, 50)).astype("float32")
    for r in edgepress.bench(arts, reference=ref, data=x, settings=edgepress.RunSettings(min_iters=2, min_seconds=0, warmup=0)):
        assert r.error is None and r.drift.max_abs < 1e-5, (r.artifact["path"], r.error)
    with pytest.raises(BadInputError, match="fixes it at 4"):
        edgepress.load(ref.path, input_shape=(1, 5, 50))


def test_qat_on_a_fixed_batch_program_says_how_to_re_export(tmp_path):
    ref = _linear(1, tmp_path)
    x = np.random.default_rng(4).standard_normal((16, 4)).astype("float32")
    with pytest.raises(BadInputError, match="fixed batch of 1"):
        edgepress.quantize(ref, "qat", calibration=(x, np.arange(16) % 3))
