"""Model statistics: parameters, MACs, sparsity per layer, gzip size; for models and files."""

import gzip

import pytest

import edgepress
from edgepress.stats import gzip_size, model_stats


def test_torch_stats_count_params_and_macs(torch_model):
    stats = model_stats(torch_model)
    module = torch_model.model.module
    assert stats["params"] == sum(p.numel() for p in module.parameters())
    # conv 3->16 and 16->16 at 16x16 plus the 16->10 classifier (Torch-Pruning also counts BN/bias work)
    assert stats["macs"] >= 16 * 16 * (3 * 16 * 9 + 16 * 16 * 9) + 16 * 10
    assert stats["sparsity"] == 0.0 and set(stats["layers"]) == {"conv.weight", "conv2.weight", "fc.weight"}


def test_file_stats_match_the_model(torch_model, onnx_artifact):
    pruned = edgepress.prune(torch_model, "magnitude", sparsity=0.5)
    stats = model_stats(onnx_artifact)
    assert stats["params"] >= model_stats(torch_model)["nonzero_params"]  # BN may be folded in
    assert stats["gzip_bytes"] == gzip_size(onnx_artifact.files) > 0
    assert pruned.report["stats"]["sparsity"] == pytest.approx(0.5, abs=0.01)


def test_gzip_size_is_the_compressed_size(tmp_path):
    f = tmp_path / "zeros.bin"
    f.write_bytes(bytes(10000))
    assert gzip_size(f) == len(gzip.compress(bytes(10000), compresslevel=9, mtime=0)) < 100
