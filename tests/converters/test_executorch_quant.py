"""ExecuTorch static INT8: percentile ranges, ReLU6 outputs quantized over what the clamp lets through, leading convolutions float."""

import numpy as np
import torch
from torch import nn

import edgepress


def _mobile_net() -> nn.Module:
    """A MobileNet-shaped net as a user writes one: ReLU6 activations, a small stem, most weights in the head."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU6(),  # stem: 224 weights
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(),  # depthwise: 80
        nn.Conv2d(8, 64, 1), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 600),  # 39k: the stem and depthwise are under 1%
    ).eval()


def _quantized_graph(tmp_path):
    from edgepress.converters.executorch_quant import quantized_program

    rng = np.random.default_rng(0)
    calibration = (10 * rng.standard_normal((24, 3, 16, 16))).astype(np.float32)  # pre-activations reach far past 6
    model = _mobile_net()
    torch.export.save(torch.export.export(model, (torch.from_numpy(calibration[:1]),)), tmp_path / "net.pt2")  # batch 1, as users save
    handle = edgepress.load(tmp_path / "net.pt2")
    q = edgepress.quantize(handle, "int8", calibration=calibration)
    program, facts = quantized_program(q.quant, torch.export.load(tmp_path / "net.pt2"), (torch.from_numpy(calibration[:1]),), None)
    return program, facts, q, calibration


def _activation_quantizes(program):
    """The program's quantize nodes in graph order (weights are folded int8 constants: these are activations)."""
    return [n for n in program.graph.nodes if n.op == "call_function" and "quantize_per_tensor" in str(n.target) and "dequantize" not in str(n.target)]


def test_relu6_outputs_get_a_0_to_6_grid_and_the_first_convs_stay_float(tmp_path):
    program, facts, _, _ = _quantized_graph(tmp_path)
    assert facts["float_ops"] == ["conv2d", "conv2d_1"]  # stem and depthwise: 304 of ~39k weights
    assert facts["method"] == "percentile"
    after_clamp = [n for n in _activation_quantizes(program) if "hardtanh" in n.args[0].name]
    assert after_clamp, [n.args[0].name for n in _activation_quantizes(program)]
    for node in after_clamp:  # 256 int8 levels from 0 to at most 6: the stock observer spanned the conv's whole range
        scale, zero_point = float(node.args[1]), int(node.args[2])
        assert zero_point == -128 and scale * 255 <= 6.0 + 1e-6, (node.name, scale, zero_point)
    convs = [n for n in program.graph.nodes if n.op == "call_function" and "conv2d" in str(n.target)]
    weights_of = [n.args[1] for n in convs]
    assert [("dequantize" in str(getattr(w, "target", ""))) for w in weights_of] == [False, False, True]  # only the third conv reads int8 weights


def test_the_pte_delegates_everything_and_stays_close_to_float(tmp_path):
    _, _, q, calibration = _quantized_graph(tmp_path)
    (pte,) = edgepress.convert(q, ["executorch"], out_dir=tmp_path / "out")
    assert pte.report["quantization"]["float_ops"] == ["conv2d", "conv2d_1"] and not pte.report["portable_ops"]
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(pte.path)).load_method("forward")
    x = calibration[8:16]  # eight samples, one at a time: the program was exported at batch 1
    got = np.concatenate([method.execute([torch.from_numpy(x[i : i + 1])])[0].numpy() for i in range(len(x))])
    with torch.no_grad():
        ref = torch.export.load(tmp_path / "net.pt2").module()(torch.from_numpy(x[:1])).numpy()
        ref = np.concatenate([ref, *(torch.export.load(tmp_path / "net.pt2").module()(torch.from_numpy(x[i : i + 1])).numpy() for i in range(1, len(x)))])
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()


def test_leading_float_off_quantizes_the_stem_too(tmp_path):
    from dataclasses import replace

    from edgepress.converters.executorch_quant import quantized_program

    _, _, q, calibration = _quantized_graph(tmp_path)
    _, facts = quantized_program(replace(q.quant, leading_float=False), torch.export.load(tmp_path / "net.pt2"), (torch.from_numpy(calibration[:1]),), None)
    assert facts["float_ops"] == []


def test_percentile_ranges_sit_inside_the_min_max_ones(tmp_path):
    """The default clips at the 99.99th percentile of |x|: the input and logits grids narrow, none widens."""
    from dataclasses import replace

    from edgepress.converters.executorch_quant import quantized_program
    from edgepress.quantization import Calibration

    _, _, q, calibration = _quantized_graph(tmp_path)
    scales = {}
    for method in (Calibration.MINMAX, Calibration.PERCENTILE):
        spec = replace(q.quant, calibration=method, leading_float=False)  # the input is quantized too
        program, facts = quantized_program(spec, torch.export.load(tmp_path / "net.pt2"), (torch.from_numpy(calibration[:1]),), None)
        assert facts["method"] == method.value
        scales[method] = [float(n.args[1]) for n in _activation_quantizes(program)]
    minmax, percentile = scales[Calibration.MINMAX], scales[Calibration.PERCENTILE]
    assert len(minmax) == len(percentile) >= 4
    assert all(p <= m * (1 + 1e-6) for p, m in zip(percentile, minmax))
    assert sum(p < 0.99 * m for p, m in zip(percentile, minmax)) >= 2  # 24 x 768 inputs and 24 x 600 logits: their extremes are cut


class _ClampAndSkip(nn.Module):
    """A conv whose output is read twice: clamped by ReLU6 and, unclamped, by a skip connection."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.clamp, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 8, 1)  # nn.ReLU6 exports as hardtanh

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head(self.clamp(y) + y)


def test_a_layer_also_read_unclamped_keeps_its_whole_range(tmp_path):
    from edgepress.converters.executorch_quant import quantized_program

    calibration = (10 * np.random.default_rng(1).standard_normal((16, 3, 8, 8))).astype(np.float32)
    example = (torch.from_numpy(calibration[:1]),)
    torch.manual_seed(0)
    torch.export.save(torch.export.export(_ClampAndSkip().eval(), example), tmp_path / "net.pt2")
    q = edgepress.quantize(edgepress.load(tmp_path / "net.pt2"), "int8", calibration=calibration)
    program, facts = quantized_program(q.quant, torch.export.load(tmp_path / "net.pt2"), example, None)
    assert facts["float_ops"] == []  # both convs are the whole model: none kept float
    conv_out = [n for n in _activation_quantizes(program) if n.args[0].name in ("conv2d", "hardtanh")]
    assert conv_out
    for node in conv_out:  # the skip reads values below 0 and above 6: a 0..6 grid would clip them
        scale, zero_point = float(node.args[1]), int(node.args[2])
        assert scale * 255 > 12.0 and zero_point > -128, (node.name, node.args[0].name, scale, zero_point)
