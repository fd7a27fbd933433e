"""convert.executorch: a global average pool written as ``x.mean((2, 3))`` stays inside XNNPACK."""

import numpy as np
import pytest
import torch
from torch import nn

import edgepress


class PoolByMean(nn.Module):
    """A CNN head as many users write it: global average pooling by ``mean`` over H and W."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean((2, 3)))


@pytest.mark.parametrize("quantized", [False, True], ids=["fp32", "int8"])
def test_a_mean_that_drops_its_dims_runs_in_xnnpack(tmp_path, quantized):
    from executorch.runtime import Runtime

    torch.manual_seed(0)
    model = PoolByMean().eval()
    x = np.random.default_rng(0).standard_normal((24, 3, 16, 16)).astype(np.float32)
    torch.export.save(torch.export.export(model, (torch.from_numpy(x[:1]),)), tmp_path / "net.pt2")  # batch 1, as users save
    handle = edgepress.load(tmp_path / "net.pt2")
    if quantized:
        handle = edgepress.quantize(handle, "int8", calibration=x[:16])
    (pte,) = edgepress.convert(handle, ["executorch"], out_dir=tmp_path / "out")
    assert pte.report["portable_ops"] == {} and pte.report["delegate_subgraphs"] == 1, pte.report["portable_ops"]
    assert any("mean" in op for op in pte.report["delegated_ops"]), pte.report["delegated_ops"]
    method = Runtime.get().load_program(str(pte.path)).load_method("forward")
    got = np.concatenate([method.execute([torch.from_numpy(x[i : i + 1])])[0].numpy() for i in range(16, 24)])
    with torch.no_grad():
        ref = model(torch.from_numpy(x[16:24])).numpy()
    assert got.shape == ref.shape == (8, 10)
    tolerance = 0.1 * np.abs(ref).max() if quantized else 1e-4
    assert np.abs(got - ref).max() < tolerance
