"""Results files for the report tests: a real ONNX model whose names try to inject markup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# Strings a hostile model or file could carry; none may run or fetch in the report.
EVIL = "<script>window.__pwned=1</script>\"'><img src=x onerror=\"window.__pwned=2\">"
EVIL_FILE = "evil\"'<svg onload=window.__pwned=3>"


def evil_onnx(path: Path) -> Path:
    """A 64 -> 10 linear classifier whose input, output and node names are EVIL."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((64, 10)).astype(np.float32), name="w" + EVIL)
    x = helper.make_tensor_value_info("in" + EVIL, TensorProto.FLOAT, ["batch", 64])
    y = helper.make_tensor_value_info("out" + EVIL, TensorProto.FLOAT, ["batch", 10])
    node = helper.make_node("MatMul", ["in" + EVIL, "w" + EVIL], ["out" + EVIL], name="layer" + EVIL)
    graph = helper.make_graph([node], "g" + EVIL, [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def report_results(tmp_path_factory) -> Path:
    """A results JSON: the evil model measured on host-cpu with labels, plus a failed cell."""
    import edgepress
    from edgepress.results import BenchResult
    from edgepress.report.results import write_results
    from edgepress.targets.base import RunSettings

    folder = tmp_path_factory.mktemp("report")
    art = edgepress.load(evil_onnx(folder / f"{EVIL_FILE}.onnx"))
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 64)).astype(np.float32), rng.integers(0, 10, 40)
    settings = RunSettings(threads=1, warmup=1, min_iters=20, min_seconds=0.0)
    results = edgepress.bench(art, target="host-cpu", reference=art, data=(x, y), settings=settings)
    failed = BenchResult(artifact={**results[0].artifact, "recipe": "r" + EVIL}, target="arm64-emu:" + EVIL, error="runtime said " + EVIL, flags=["emulated"])
    return write_results(folder / "results.json", [*results, failed])
