"""Models users bring, saved the way users save them: tiny, seeded, one builder each.

A builder writes its model file into a folder and returns a ``Built``: the file, a
function making evaluation data (``{input name: array}``, first axis = samples) and,
for TorchScript, the ``--input-shape`` the CLI needs. torch is imported inside the
builders so collecting the zoo imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

IMAGE = (3, 16, 16)
FEATURES = 5
VOCAB, TOKENS = 100, 12
CHANNELS, LENGTH, DATA_LENGTH = 4, 16, 24  # sequence models: exported at T=16, measured at T=24

MakeData = Callable[[int], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Built:
    """A saved model: the file, its data maker and the TorchScript input shape if any."""

    path: Path
    make_data: MakeData
    input_shape: str | None = None


def _normal(*shape: int) -> MakeData:
    return lambda n: {"x": np.random.default_rng(7).standard_normal((n, *shape)).astype(np.float32)}


def _tokens(n: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(7).integers(0, VOCAB, size=(n, TOKENS), dtype=np.int64)}


def _two_inputs(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"img": rng.standard_normal((n, *IMAGE)).astype(np.float32), "feat": rng.standard_normal((n, FEATURES)).astype(np.float32)}


def _seeded(factory: Callable[[], Any]) -> Any:
    """The same weights on every run, so the conversion cache can reuse artifacts."""
    import torch

    torch.manual_seed(0)
    return factory().eval()


def _save_pt2(model: Any, args: tuple, path: Path, dynamic_shapes: Any = None) -> Path:
    import torch

    torch.export.save(torch.export.export(model, args, dynamic_shapes=dynamic_shapes), str(path))
    return path


# --- the networks ---------------------------------------------------------------


def small_cnn() -> Any:
    """Conv-BN-ReLU, a strided conv, global pooling and a 10-class head."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )  # fmt: skip


def resnet_net() -> Any:
    """A ResNet-style net: a stem and two basic blocks, the second strided with a projection."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.b2(self.c2(self.b1(self.c1(x)).relu()))
            return (y + self.down(x)).relu()

    stem = [nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU()]
    return nn.Sequential(*stem, Block(8, 8, 1), Block(8, 16, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def two_inputs_net() -> Any:
    """An image branch and a feature branch, concatenated; returns a tuple (logits, the joint features)."""
    import torch
    from torch import nn

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.mlp = nn.Sequential(nn.Linear(FEATURES, 8), nn.ReLU())
            self.fc = nn.Linear(16, 6)

        def forward(self, img: torch.Tensor, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            joint = torch.cat([self.conv(img), self.mlp(feat)], 1)
            return self.fc(joint), joint

    return TwoInputs()


def two_heads_net(as_dict: bool) -> Any:
    """Class logits and a box from one body, returned as a tuple or as a dict."""
    import torch
    from torch import nn

    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.cls, self.box = nn.Linear(8, 10), nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> Any:
            f = self.body(x)
            return {"logits": self.cls(f), "boxes": self.box(f)} if as_dict else (self.cls(f), self.box(f))

    return TwoHeads()


def text_rnn_net() -> Any:
    """Embedding, an LSTM then a GRU over int64 token ids, classified from the last step."""
    import torch
    from torch import nn

    class TextRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.fc = nn.Embedding(VOCAB, 16), nn.Linear(16, 4)
            self.lstm, self.gru = nn.LSTM(16, 16, batch_first=True), nn.GRU(16, 16, batch_first=True)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            hidden, _ = self.lstm(self.emb(tokens))
            hidden, _ = self.gru(hidden)
            return self.fc(hidden[:, -1])

    return TextRNN()


def vit_net(dim: int = 32, patch: int = 4) -> Any:
    """Patch embedding, a class token, one pre-norm transformer encoder layer."""
    import torch
    from torch import nn

    class ViTBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Conv2d(3, dim, patch, patch)
            self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pos = nn.Parameter(torch.randn(1, (IMAGE[1] // patch) ** 2 + 1, dim) * 0.02)
            self.layer = nn.TransformerEncoderLayer(dim, 4, dim * 2, dropout=0.0, batch_first=True, norm_first=True)
            self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            patches = self.embed(x).flatten(2).transpose(1, 2)
            tokens = torch.cat([self.cls.expand(patches.shape[0], -1, -1), patches], 1) + self.pos
            return self.head(self.norm(self.layer(tokens))[:, 0])

    return ViTBlock()


def seq_conv_net() -> Any:
    """Conv1d over [batch, channels, T], averaged over T: any length works."""
    from torch import nn

    class Mean(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.mean(-1)

    return nn.Sequential(nn.Conv1d(CHANNELS, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1), nn.ReLU(), Mean(), nn.Linear(8, 3))


def net(factory: Callable[..., Any], *args: Any) -> Any:
    """A seeded, eval-mode instance from one of the network factories above."""
    return _seeded(lambda: factory(*args))


# --- the builders: one per way a user brings a model ------------------------------


def cnn_batch1(folder: Path) -> Built:
    """The default: torch.export at batch 1, no dynamic shapes."""
    import torch

    return Built(_save_pt2(_seeded(small_cnn), (torch.randn(1, *IMAGE),), folder / "cnn_b1.pt2"), _normal(*IMAGE))


def resnet_batch4(folder: Path) -> Built:
    """A ResNet-style net at static batch 4: every artifact takes exactly four samples."""
    import torch

    return Built(_save_pt2(net(resnet_net), (torch.randn(4, *IMAGE),), folder / "resnet_b4.pt2"), _normal(*IMAGE))


def vit_dynamic_batch(folder: Path) -> Built:
    """A ViT block with a dynamic batch; exported at batch 2 because torch.export specializes a size of 1."""
    import torch

    shapes = ({0: torch.export.Dim("batch")},)
    return Built(_save_pt2(net(vit_net), (torch.randn(2, *IMAGE),), folder / "vit_dynbatch.pt2", shapes), _normal(*IMAGE))


def seq_bounded(folder: Path) -> Built:
    """Dynamic sequence length 4..256 on dim 2, measured at a length other than the example's."""
    import torch

    shapes = ({2: torch.export.Dim("T", min=4, max=256)},)
    path = _save_pt2(net(seq_conv_net), (torch.randn(1, CHANNELS, LENGTH),), folder / "seq_bounded.pt2", shapes)
    return Built(path, _normal(CHANNELS, DATA_LENGTH))


def seq_unbounded(folder: Path) -> Built:
    """Dynamic sequence length with no bounds (``Dim("T")``)."""
    import torch

    shapes = ({2: torch.export.Dim("T")},)
    path = _save_pt2(net(seq_conv_net), (torch.randn(1, CHANNELS, LENGTH),), folder / "seq_unbounded.pt2", shapes)
    return Built(path, _normal(CHANNELS, DATA_LENGTH))


def two_inputs(folder: Path) -> Built:
    """An image and a feature vector in, a tuple out; the data holds one array per input name."""
    import torch

    args = (torch.randn(1, *IMAGE), torch.randn(1, FEATURES))
    return Built(_save_pt2(net(two_inputs_net), args, folder / "two_inputs.pt2"), _two_inputs)


def dict_out(folder: Path) -> Built:
    import torch

    return Built(_save_pt2(net(two_heads_net, True), (torch.randn(1, *IMAGE),), folder / "dict_out.pt2"), _normal(*IMAGE))


def rnn_tokens(folder: Path) -> Built:
    """Embedding + LSTM + GRU classifier on int64 token ids."""
    import torch

    ids = torch.randint(0, VOCAB, (1, TOKENS), dtype=torch.int64)
    return Built(_save_pt2(net(text_rnn_net), (ids,), folder / "rnn_tokens.pt2"), _tokens)


def onnx_dynamo(folder: Path) -> Built:
    """An ONNX file made outside edgepress by torch.onnx's dynamo exporter, static batch 1."""
    import torch

    path = folder / "resnet_dynamo.onnx"
    torch.onnx.export(net(resnet_net), (torch.randn(1, *IMAGE),), str(path), dynamo=True, verbose=False, input_names=["image"], output_names=["logits"])
    return Built(path, _normal(*IMAGE))


def onnx_legacy(folder: Path) -> Built:
    """An ONNX file from the legacy TorchScript-based exporter, static batch 1."""
    import torch

    path = folder / "resnet_legacy.onnx"
    torch.onnx.export(net(resnet_net), (torch.randn(1, *IMAGE),), str(path), dynamo=False, input_names=["image"], output_names=["logits"], opset_version=17)
    return Built(path, _normal(*IMAGE))


def torchscript(folder: Path) -> Built:
    """``torch.jit.trace(model, example).save("m.pt")``; the CLI needs --input-shape."""
    import torch

    path = folder / "cnn_traced.pt"
    torch.jit.trace(_seeded(small_cnn), torch.randn(1, *IMAGE)).save(str(path))
    return Built(path, _normal(*IMAGE), input_shape="x".join(map(str, (1, *IMAGE))))


# Each model stands for several ways users bring one (batch 4 and a ResNet, a dynamic batch and
# a ViT, an LSTM and a GRU): every model runs the whole matrix of
# formats, so one that covers two cases halves what make test spends on them.
ZOO: dict[str, Callable[[Path], Built]] = {
    "cnn_b1": cnn_batch1,
    "resnet_b4": resnet_batch4,
    "vit_dynbatch": vit_dynamic_batch,
    "seq_bounded": seq_bounded,
    "seq_unbounded": seq_unbounded,
    "two_inputs": two_inputs,
    "dict_out": dict_out,
    "rnn_tokens": rnn_tokens,
    "onnx_dynamo": onnx_dynamo,
    "onnx_legacy": onnx_legacy,
    "torchscript": torchscript,
}
