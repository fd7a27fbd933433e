"""Running a language model the same way in every form: an ONNX artifact or the PyTorch reference.

A decoder takes token ids and a cache state and returns logits [tokens, vocab] and the new
state; ``greedy`` and the quality loop only use that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgepress.lm.state import CacheState


class Decoder(Protocol):
    def start(self) -> Any: ...

    def forward(self, ids: list[int], state: Any, last_only: bool = False) -> tuple[np.ndarray, Any]:
        """Logits of every position of ``ids`` (or of the last one only, when that is all the caller needs) and the new state."""
        ...


class OnnxDecoder:
    """An exported decoder with ``past_key_values.N.key|value`` inputs (batch 1)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.session = onnx_session(path, threads)
        inputs = self.session.get_inputs()
        self.past = [i for i in inputs if i.name.startswith("past_key_values.")]
        if not self.past:
            from edgepress.errors import BadInputError

            raise BadInputError(f"{Path(path).name} has no past_key_values inputs: not a decoder exported with a KV cache")
        self.outputs = [o.name for o in self.session.get_outputs()]

    def start(self) -> CacheState:
        return CacheState({i.name: np.zeros(_cache_shape(i.shape), dtype=_np_dtype(i.type)) for i in self.past})

    def forward(self, ids: list[int], state: CacheState, last_only: bool = False) -> tuple[np.ndarray, CacheState]:
        total = state.length + len(ids)
        feed = {"input_ids": np.asarray([ids], dtype=np.int64), "attention_mask": np.ones((1, total), dtype=np.int64), **state.cache}
        values = dict(zip(self.outputs, self.session.run(None, feed)))
        cache = {i.name: values[i.name.replace("past_key_values", "present")] for i in self.past}
        return values["logits"][0], CacheState(cache, total)


class TorchDecoder:
    """The PyTorch reference behind the same interface."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def start(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def forward(self, ids: list[int], state: Any, last_only: bool = False) -> tuple[np.ndarray, Any]:
        import torch

        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids]), cache=state, use_cache=True)
        return out.logits[0].float().numpy(), out.past_key_values


@dataclass
class Generated:
    tokens: list[int]
    prefill_ms: float
    decode_ms: list[float] = field(default_factory=list)


def greedy(decoder: Decoder, prompt: list[int], new_tokens: int) -> Generated:
    """Greedy generation of exactly ``new_tokens`` tokens (no stop at end-of-text: the count is what is timed)."""
    start = time.perf_counter()
    logits, state = decoder.forward(prompt, decoder.start(), last_only=True)
    token = int(logits[-1].argmax())
    made = Generated([token], (time.perf_counter() - start) * 1e3)
    for _ in range(new_tokens - 1):
        start = time.perf_counter()
        logits, state = decoder.forward([token], state)
        token = int(logits[-1].argmax())
        made.decode_ms.append((time.perf_counter() - start) * 1e3)
        made.tokens.append(token)
    return made


class OnnxEncoder:
    """An exported encoder: token ids and mask in, last hidden states out."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.session = onnx_session(path, threads)
        self.names = [i.name for i in self.session.get_inputs()]

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        given = {"input_ids": ids.astype(np.int64), "attention_mask": mask.astype(np.int64), "token_type_ids": np.zeros_like(ids, dtype=np.int64)}
        return self.session.run(None, {name: given[name] for name in self.names})[0]


class TorchEncoder:
    def __init__(self, model: Any) -> None:
        self.model = model

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(input_ids=torch.from_numpy(ids.astype(np.int64)), attention_mask=torch.from_numpy(mask.astype(np.int64)))
        return out.last_hidden_state.float().numpy()


def onnx_session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _cache_shape(shape: list[Any]) -> tuple[int, ...]:
    """[batch, heads, past, head size] with batch 1 and an empty past."""
    return (1, int(shape[1]), 0, int(shape[3]))


def _np_dtype(onnx_type: str) -> Any:
    return np.float16 if "float16" in onnx_type else np.float32


class PteDecoder:
    """An ExecuTorch decoder with its static cache inside: ``forward(input_ids, cache_position) -> logits``.

    Starting again at position 0 starts a new sequence (the program resets the cache length
    to the first position it is given).
    """

    def __init__(self, path: Path, threads: int | None = None, max_length: int | None = None) -> None:
        from executorch.runtime import Runtime

        from edgepress.lm.custom_sdpa import load_custom_ops
        from edgepress.targets.measure_worker import set_executorch_threads

        load_custom_ops()  # the kernels of .pte decoders exported with ExecuTorch's LLM ops
        if threads:
            set_executorch_threads(threads)
        self.method = Runtime.get().load_program(str(path)).load_method("forward")
        self.max_length = max_length

    def start(self) -> int:
        return 0

    def forward(self, ids: list[int], state: int, last_only: bool = False) -> tuple[np.ndarray, int]:
        import torch

        if self.max_length is not None and state + len(ids) >= self.max_length:
            from edgepress.errors import BadInputError

            raise BadInputError(f"the .pte's static cache holds {self.max_length} positions; {state + len(ids)} asked for (shorten --window or the prompt)")
        out = self.method.execute([torch.tensor([ids], dtype=torch.long), torch.arange(state, state + len(ids), dtype=torch.long)])[0]
        return out[0].float().numpy(), state + len(ids)


def decoder_for(path: Path, threads: int | None = None, max_length: int | None = None) -> Decoder:
    """The runner of a decoder artifact by its file type."""
    suffix = Path(path).suffix
    if suffix == ".tflite":
        from edgepress.lm.tflite_session import TfliteDecoder

        return TfliteDecoder(path, threads)
    return PteDecoder(path, threads, max_length) if suffix == ".pte" else OnnxDecoder(path, threads)


class PteEncoder:
    """An ExecuTorch encoder (dynamic sequence, batch 1): each row runs at the batch's padded length."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from executorch.runtime import Runtime

        from edgepress.lm.custom_sdpa import load_custom_ops
        from edgepress.targets.measure_worker import set_executorch_threads

        load_custom_ops()  # the kernels of .pte decoders exported with ExecuTorch's LLM ops
        if threads:
            set_executorch_threads(threads)
        self.method = Runtime.get().load_program(str(path)).load_method("forward")

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        rows = [self.method.execute([torch.from_numpy(i[None].astype(np.int64)), torch.from_numpy(m[None].astype(np.int64))])[0][0].numpy()
                for i, m in zip(ids, mask)]
        return np.stack(rows)


def encoder_for(path: Path, threads: int | None = None) -> Any:
    """The runner of an encoder artifact by its file type (each has ``hidden(ids, mask)``)."""
    suffix = Path(path).suffix
    if suffix == ".tflite":
        from edgepress.lm.tflite_session import TfliteEncoder

        return TfliteEncoder(path, threads)
    return PteEncoder(path, threads) if suffix == ".pte" else OnnxEncoder(path, threads)
