from edgepress.results import BenchResult, LatencyStats
from edgepress.report.pareto import pareto_front


def cell(name, size, ms, acc, target="host-cpu", flags=()):
    lat = LatencyStats.from_samples([ms, ms])
    return BenchResult(artifact={"recipe": name, "format": "onnx", "sha256": name, "size_bytes": size, "path": None}, target=target, latency_ms=lat, accuracy=acc, reference_accuracy=0.99, flags=list(flags))


def test_front_keeps_only_undominated_cells_per_target():
    a, b, c, d = cell("a", 100, 1.0, 0.99), cell("b", 50, 2.0, 0.95), cell("c", 120, 1.5, 0.95), cell("d", 100, 1.0, 0.9, target="gpu")
    assert pareto_front([a, b, c, d]) == [a, b, d]


def test_emulated_timing_does_not_decide():
    small, fast = cell("s", 50, 9.0, 0.99, "arm64-emu", ["emulated"]), cell("f", 100, 1.0, 0.99, "arm64-emu", ["emulated"])
    assert pareto_front([small, fast]) == [small]
