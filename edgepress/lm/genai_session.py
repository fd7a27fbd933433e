"""Timed generation of an ONNX decoder with ONNX Runtime GenAI's generator, the runtime ONNX language models ship with.

Why not only an ``InferenceSession`` loop: a plain session gets the KV cache back as new
arrays every step (the attention op copies the whole past into the present), while the
generator keeps one buffer of ``max_length`` positions that past and present share
(``past_present_share_buffer``). On SmolLM2-135M INT8 that copy is about a tenth of a
decode step. The generator only returns the last position's logits, so perplexity still
runs in a session (``OnnxDecoder``); greedy tokens agree between the two (tested).

A folder qualifies when it has ``genai_config.json`` naming the graph, as the GenAI model
builder and every quantizer here leave it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

GENAI_CONFIG = "genai_config.json"


def runs_in_genai(path: Path) -> bool:
    """Whether ``path`` is the graph its folder's ``genai_config.json`` names, and ONNX Runtime GenAI is installed."""
    config = Path(path).parent / GENAI_CONFIG
    if Path(path).suffix != ".onnx" or not config.is_file():
        return False
    try:
        import onnxruntime_genai  # noqa: F401
    except ImportError:
        return False
    return json.loads(config.read_text()).get("model", {}).get("decoder", {}).get("filename") == Path(path).name


class GenaiDecoder:
    """The ``Decoder`` interface over a generator: the state is the generator, logits are the last position's only."""

    def __init__(self, path: Path, threads: int | None, max_length: int) -> None:
        import onnxruntime_genai as og

        config = og.Config(str(Path(path).parent))
        if threads:
            options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
            config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        self.model = og.Model(config)
        self.max_length = max_length
        self.runner = f"onnxruntime-genai {og.__version__} generator"

    def start(self) -> Any:
        import onnxruntime_genai as og

        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=self.max_length, do_sample=False)
        return og.Generator(self.model, params)

    def forward(self, ids: list[int], state: Any, last_only: bool = False) -> tuple[np.ndarray, Any]:
        if not last_only and len(ids) > 1:
            raise ValueError("the generator gives the last position's logits only; use OnnxDecoder for every position")
        state.append_tokens(np.asarray([ids], dtype=np.int32))
        return state.get_logits()[0], state
