"""Model statistics: parameters, MACs, sparsity per layer, and what sparsity buys on disk.

Every compression pass records ``report["stats"]`` for the model it made (and
``report["source_stats"]`` for the one it started from), so a result says plainly how
much smaller a pruned model is. Unstructured zeros shrink the *compressed* file
(``gzip_size``) but not the dense file nor the dense kernels' latency.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format

# Layers whose weights pruning acts on (and whose sparsity is reported).
PRUNABLE_TORCH = ("Conv1d", "Conv2d", "Conv3d", "Linear")


def model_stats(artifact: Artifact) -> dict[str, Any]:
    """Parameter count, non-zeros, sparsity (per layer too) and MACs of a model.

    Works on in-memory PyTorch and Keras models and on ONNX / TFLite files (MACs only
    for PyTorch, counted by Torch-Pruning; ``None`` elsewhere).

    Example:
        >>> model_stats(edgepress.from_torch(net, x))["params"]
        1082
    """
    if artifact.format is Format.TORCH:
        return torch_stats(artifact.model.module, artifact.model.example_inputs)
    if artifact.format is Format.KERAS:
        return _weights_stats(_keras_weights(artifact.model.model), macs=None)
    if artifact.format is Format.ONNX and artifact.path is not None:
        return _weights_stats(_onnx_weights(artifact.path), macs=None) | {"gzip_bytes": gzip_size(artifact.files)}
    if artifact.format is Format.TFLITE and artifact.path is not None:
        return _weights_stats(_tflite_weights(artifact.path), macs=None) | {"gzip_bytes": gzip_size(artifact.files)}
    stats: dict[str, Any] = {"params": None, "macs": None, "sparsity": None}
    if artifact.path is not None:
        stats["gzip_bytes"] = gzip_size(artifact.files)
    return stats


def torch_stats(module: Any, example_inputs: tuple[Any, ...]) -> dict[str, Any]:
    """Statistics of a ``torch.nn.Module`` (MACs for one batch of ``example_inputs``)."""
    weights = {
        f"{name}.weight" if name else "weight": m.weight.detach().cpu().numpy()
        for name, m in module.named_modules()
        if type(m).__name__ in PRUNABLE_TORCH and getattr(m, "weight", None) is not None
    }
    stats = _weights_stats(weights, macs=torch_macs(module, example_inputs))
    stats["params"] = int(sum(p.numel() for p in module.parameters()))
    return stats


def torch_macs(module: Any, example_inputs: tuple[Any, ...]) -> int | None:
    """Multiply-accumulates of one forward pass at batch 1 (Torch-Pruning's counter)."""
    try:
        import torch
        import torch_pruning as tp
    except ImportError:  # the 'prune' extra is optional for plain statistics
        return None
    one = tuple(t[:1] for t in example_inputs)
    with torch.no_grad():
        macs, _params = tp.utils.count_ops_and_params(module, one if len(one) > 1 else one[0])
    return int(macs)


def gzip_size(paths: Path | tuple[Path, ...] | list[Path]) -> int:
    """Bytes of the files gzip-compressed (level 9): what sparsity saves on disk and on the wire."""
    files = (paths,) if isinstance(paths, Path) else tuple(paths)
    return sum(len(gzip.compress(Path(p).read_bytes(), compresslevel=9, mtime=0)) for p in files)


def _weights_stats(weights: dict[str, Any], macs: int | None) -> dict[str, Any]:
    """Totals and per-layer sparsity of named weight arrays (numpy)."""
    import numpy as np

    total = sum(int(w.size) for w in weights.values())
    zeros = sum(int(np.count_nonzero(w == 0)) for w in weights.values())
    return {
        "params": total,
        "nonzero_params": total - zeros,
        "sparsity": round(zeros / total, 6) if total else 0.0,
        "macs": macs,
        "layers": {name: round(float(np.mean(w == 0)), 6) for name, w in weights.items() if w.size},
    }


def _keras_weights(model: Any) -> dict[str, Any]:
    """Every trainable kernel/bias of a Keras model as numpy, by variable path."""
    import numpy as np

    return {getattr(v, "path", v.name): np.asarray(v) for v in model.trainable_weights}


def _onnx_weights(path: Path) -> dict[str, Any]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def _tflite_weights(path: Path) -> dict[str, Any]:
    """Constant tensors (buffers with data) of a TFLite flatbuffer, read without TensorFlow."""
    import numpy as np
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    weights = {}
    for tensor in model.subgraphs[0].tensors:
        data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
        if data is not None and len(data):
            name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
            dtype = _TFLITE_DTYPES.get(tensor.type, np.uint8)
            weights[name] = np.frombuffer(bytes(data), dtype=dtype)
    return weights


# TFLite schema TensorType codes of the constant tensors a converted model holds.
_TFLITE_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}
