"""Speed rounds interleaved across artifacts, and merged into one figure per artifact."""

from __future__ import annotations

import pytest

from edgepress.lm.speed import merge_rounds, measure_rounds


def _round(tok_s: float, steps: list[float], ttft: float, rss: int) -> dict:
    return {"load_ms": 10.0, "import_ms": 5.0, "peak_rss_bytes": rss, "threads": 1, "pinned_cpus": [0],
            "generation": {"ttft_ms": ttft, "prefill_tok_s": 16 / (ttft / 1e3), "decode_tok_s": tok_s, "decode_ms": {}, "decode_samples_ms": steps,
                           "prompt_tokens": 16, "new_tokens": 3, "rounds": 1, "tokens": [1, 2, 3]}}


def test_a_slow_round_does_not_move_the_median_and_every_sample_is_kept():
    merged = merge_rounds([_round(50.0, [20.0, 20.0], 100.0, 7), _round(10.0, [100.0, 100.0], 900.0, 9), _round(48.0, [21.0, 21.0], 110.0, 8)])
    generation = merged["generation"]
    assert generation["decode_tok_s"] == 48.0 and generation["round_decode_tok_s"] == [50.0, 10.0, 48.0]
    assert generation["ttft_ms"] == 110.0 and generation["prefill_tok_s"] == pytest.approx(16 / 0.110)
    assert generation["decode_ms"]["n"] == 6 and generation["decode_ms"]["max"] == 100.0 and generation["rounds"] == 3
    assert merged["peak_rss_bytes"] == 9


def test_a_worker_that_fails_gives_its_error_as_the_result(tmp_path):
    results = measure_rounds([{"path": str(tmp_path / "missing.onnx"), "task": "text-generation", "threads": 1, "prompt": [1, 2], "new_tokens": 2}])
    assert list(results[0]) == ["error"]
