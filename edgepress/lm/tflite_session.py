"""Running a TFLite decoder exported with ``prefill_<N>`` and ``decode`` signatures (LiteRT's interpreter, XNNPACK).

The cache is a fixed number of positions; each call takes the cache tensors and returns them
updated. The mask is additive: 0 where a query may attend (cache positions up to its own),
the float minimum elsewhere. ``prefill`` returns no logits, so a prompt is prefilled but
for its last token, which ``decode`` then runs to give the next token's logits (as LiteRT-LM
does); logits of every position (perplexity) come from ``decode`` one token at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepress.errors import BadInputError
from edgepress.lm.state import CacheState

MASKED = np.finfo(np.float32).min


class TfliteDecoder:
    """A ``.tflite`` decoder behind the same interface as the ONNX and ExecuTorch ones."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
        names = interpreter.get_signature_list()
        prefills = sorted(n for n in names if n.startswith("prefill"))
        if "decode" not in names or not prefills:
            raise BadInputError(f"{Path(path).name} has no prefill and decode signatures: not a decoder exported with a KV cache")
        self.prefill, self.decode = interpreter.get_signature_runner(prefills[0]), interpreter.get_signature_runner("decode")
        self.chunk = int(self.prefill.get_input_details()["tokens"]["shape"][1])
        inputs = self.decode.get_input_details()
        self.length = int(inputs["mask"]["shape"][-1])
        self.cache_specs = {k: (tuple(d["shape"]), d["dtype"]) for k, d in inputs.items() if k.startswith("kv_cache")}

    def start(self) -> CacheState:
        return CacheState({k: np.zeros(shape, dtype) for k, (shape, dtype) in self.cache_specs.items()})

    def forward(self, ids: list[int], state: CacheState, last_only: bool = False) -> tuple[np.ndarray, CacheState]:
        if state.length + len(ids) > self.length:
            raise BadInputError(f"the .tflite's KV cache holds {self.length} positions; {state.length + len(ids)} asked for (shorten --window or the prompt)")
        if last_only:
            state = self._prefill(ids[:-1], state)
            ids = ids[-1:]
        rows = []
        for token in ids:
            logits, state = self._step(token, state)
            rows.append(logits)
        return np.stack(rows), state

    def _prefill(self, ids: list[int], state: CacheState) -> CacheState:
        """Prefill in whole chunks while they fit the cache; the rest (short of a chunk's room) goes through decode."""
        done = 0
        while len(ids) - done > 1 and state.length + self.chunk <= self.length:
            part = ids[done:done + self.chunk]
            tokens = np.zeros((1, self.chunk), np.int32)
            tokens[0, :len(part)] = part
            # padding runs at the positions after the real tokens: what it writes there is overwritten before it is attended to
            positions = np.arange(state.length, state.length + self.chunk, dtype=np.int32)
            out = self.prefill(tokens=tokens, input_pos=positions, mask=_mask(positions, self.length), **state.cache)
            state = CacheState({k: out[k] for k in state.cache}, state.length + len(part))
            done += len(part)
        for token in ids[done:]:
            state = self._step(token, state)[1]
        return state

    def _step(self, token: int, state: CacheState) -> tuple[np.ndarray, CacheState]:
        position = np.asarray([state.length], np.int32)
        out = self.decode(tokens=np.asarray([[token]], np.int32), input_pos=position, mask=_mask(position, self.length), **state.cache)
        return out["logits"][0, -1], CacheState({k: out[k] for k in state.cache}, state.length + 1)


def _mask(positions: np.ndarray, length: int) -> np.ndarray:
    """[1, 1, queries, cache]: each query sees the cache up to its own position."""
    return np.where(np.arange(length)[None, :] <= positions[:, None], np.float32(0), MASKED)[None, None].astype(np.float32)



class TfliteEncoder:
    """A fixed-sequence ``.tflite`` encoder: each row is padded (and masked) to the file's length, batch 1."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
        self.runner = interpreter.get_signature_runner()
        self.names = sorted(self.runner.get_input_details())  # args_0 (ids), args_1 (mask), in the exported order
        self.length = int(self.runner.get_input_details()[self.names[0]]["shape"][1])

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if ids.shape[1] > self.length:
            raise BadInputError(f"the .tflite encoder takes {self.length} tokens; {ids.shape[1]} given (truncate the input)")
        rows = []
        for row_ids, row_mask in zip(ids, mask):
            padded = np.zeros((2, 1, self.length), np.int32)
            padded[0, 0, : len(row_ids)], padded[1, 0, : len(row_mask)] = row_ids, row_mask
            out = self.runner(**dict(zip(self.names, padded)))
            rows.append(next(iter(out.values()))[0, : ids.shape[1]])
        return np.stack(rows)
