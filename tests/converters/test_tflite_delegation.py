"""Which operators LiteRT's XNNPACK delegate takes in a converted .tflite, as the conversion report says."""

import edgepress


def _cumsum_net():
    """Two convolutions around a cumulative sum, an operator XNNPACK has no kernel for."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 3, padding=1)

        def forward(self, x):
            return self.b(torch.cumsum(torch.relu(self.a(x)), dim=3))

    return Net().eval()


def test_an_operator_xnnpack_refuses_splits_the_graph_and_sets_the_flag(tmp_path):
    import torch

    x = torch.randn(1, 3, 16, 16)
    torch.export.save(torch.export.export(_cumsum_net(), (x,)), tmp_path / "net.pt2")  # saved as a user would: batch 1
    (made,) = edgepress.convert(edgepress.load(tmp_path / "net.pt2"), ["tflite"], out_dir=tmp_path / "out")
    report = made.report
    assert report["not_delegated_ops"] == {"CUMSUM": 1}
    assert report["delegated_ops"]["CONV_2D"] == 2 and report["delegate_subgraphs"] == 2  # one partition each side of it
    assert "fallback_ops" in report["flags"] and report["mid_graph_qdq"] == 0


def test_an_int8_file_is_one_xnnpack_partition_without_requantizing(tmp_path):
    import torch

    from edgepress.digits import digits_cnn, load_digits_split

    split = load_digits_split()
    model = edgepress.from_torch(digits_cnn(width=8).eval(), torch.from_numpy(split.x_test[:1]), name="digits_w8")
    (made,) = edgepress.convert(edgepress.quantize(model, "int8", calibration=split.x_train[:32]), ["tflite"], out_dir=tmp_path)
    report = made.report
    assert report["not_delegated_ops"] == {} and report["delegate_subgraphs"] == 1 and report["mid_graph_qdq"] == 0
    assert sum(report["delegated_ops"].values()) == sum(report["ops"].values()) and "fallback_ops" not in report["flags"]

