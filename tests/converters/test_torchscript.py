import numpy as np
import torch

import edgepress
from edgepress.targets.host_cpu import HostCpu
from tests.models import residual_net


def test_ptl_runs_in_the_lite_interpreter_and_is_flagged_deprecated(pt2_path, tmp_path):
    (art,) = edgepress.convert(edgepress.load(pt2_path), ["ptl"], out_dir=tmp_path)
    assert art.path.suffix == ".ptl" and "deprecated_format" in art.report["flags"]
    assert "ExecuTorch" in art.report["deprecated"] and art.report["ops"]["aten::_convolution"] == 2
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    got = HostCpu().load(art)([x])[0]
    want = residual_net()(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - want).max() < 1e-4


def test_ptl_result_carries_the_flag(torch_model, tmp_path, fast):
    (art,) = edgepress.convert(torch_model, ["ptl"], out_dir=tmp_path)
    (r,) = edgepress.bench(art, reference=torch_model, settings=fast)
    assert r.ok and "deprecated_format" in r.flags and r.drift.max_abs < 1e-4
