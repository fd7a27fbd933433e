"""``quantize(..., max_drop=, fastest=True)``: the settings that fit are timed on this host and the fastest is kept."""

from __future__ import annotations

import numpy as np
import pytest

import edgepress
from edgepress.errors import BadInputError


def _mobile_cnn():
    """A user's MobileNet-like classifier: a small stem conv (under 1% of the weights: kept float by default), depthwise, pointwise."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 128, 1), nn.ReLU6(), nn.Conv2d(128, 256, 1), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 40),
    ).eval()


def _images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = rng.random((n, 3, 8, 8), dtype=np.float32).repeat(4, axis=2).repeat(4, axis=3)  # photo-like blocks, not white noise
    return (smooth + 0.1 * rng.standard_normal((n, 3, 32, 32))).astype(np.float32)


def test_fastest_times_every_setting_that_fits_and_keeps_the_fastest(tmp_path):
    import torch

    from edgepress.targets.measure_worker import cpu_facts

    pt2 = tmp_path / "mobile.pt2"
    torch.export.save(torch.export.export(_mobile_cnn(), (torch.randn(1, 3, 32, 32),)), pt2)  # batch 1, the default way
    made = edgepress.quantize(edgepress.load(pt2), "int8", calibration=_images(32, 0), eval_data=_images(24, 1), max_drop=1.0,
                              fastest=True, out_dir=tmp_path / "out")
    guard = made.report["guard"]
    first, *variants = guard["attempts"]
    assert first["options"]["leading_float"] and first["options"]["input_layers_7bit"]
    assert [v["changed"] for v in variants] == ["leading convolutions quantized too (leading_float off)",
                                               "8-bit weights on input layers (input_layers_7bit off)",
                                               "leading convolutions quantized too (leading_float off); 8-bit weights on input layers (input_layers_7bit off)"]
    # with the stem float no int8 layer reads the input: 7-bit weights alone change nothing, and that file is not timed again
    assert variants[1]["same_file_as"] == first["changed"] and "same_file_as" not in variants[0] and "same_file_as" not in variants[2]
    timed = [a for a in guard["attempts"] if "p50_ms" in a]
    assert len(timed) == 3 and all(a["p50_ms"] > 0 for a in timed)  # max_drop 1.0: every setting fits
    fastest, accurate = min(timed, key=lambda a: a["p50_ms"]), max(timed, key=lambda a: a["score"])
    speed = guard["speed"]
    if fastest["p50_ms"] <= 0.97 * accurate["p50_ms"]:
        assert speed["chosen"] == fastest["changed"] and "faster than the most accurate" in speed["why"]
    else:
        assert speed["chosen"] == accurate["changed"] and "kept it" in speed["why"]
    assert speed["rounds"] == 3
    kept_attempt = next(a for a in timed if a["changed"] == speed["chosen"])
    assert speed["int8_features"] == cpu_facts()["int8_features"]
    kept = made.report["quantization"]
    assert (kept["leading_float"], kept["input_layers_7bit"]) == (kept_attempt["options"]["leading_float"], kept_attempt["options"]["input_layers_7bit"])
    assert sorted(p.name for p in (tmp_path / "out").glob("*.onnx")) == [made.path.name]


def test_fastest_needs_a_budget(tmp_path):
    import torch

    handle = edgepress.from_torch(_mobile_cnn(), torch.randn(1, 3, 32, 32))
    with pytest.raises(BadInputError, match="fastest picks among the settings that fit max_drop"):
        edgepress.quantize(handle, "int8", calibration=_images(8, 0), fastest=True, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(BadInputError, match="fastest picks among the settings that fit max_drop"):
        edgepress.Recipe.from_dict({"pass": [{"name": "quantize.int8_static", "fastest": True}]})
    recipe = edgepress.Recipe.from_dict({"pass": [{"name": "quantize.int8_static", "max_drop": 0.01, "fastest": True}]})
    assert recipe.passes[0].fastest
