"""Evaluation text and the token windows every model is scored on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepress.errors import BadInputError, DataError

DEFAULT_TEXT = "Python's own documentation topics (pydoc_data.topics)"
DEFAULT_EVAL_TOKENS = 4096  # tokens scored for perplexity
DEFAULT_WINDOW = 512  # tokens of context per perplexity window


def read_text(path: str | Path | None = None, option: str = "--text") -> str:
    """The user's text file, or Python's documentation topics (English technical prose, always installed)."""
    if path is None:
        import pydoc_data.topics

        return "\n\n".join(pydoc_data.topics.topics.values())
    file = Path(path)
    if not file.is_file():
        raise BadInputError(f"{option} file not found: {file}")
    text = file.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise DataError(f"{option} file {file} is empty; give a file with the text to use")
    return text


def token_ids(tokenizer: Any, text: str, count: int) -> list[int]:
    """The first ``count`` token ids of ``text`` (fewer if the text is short), without special tokens."""
    import numpy as np

    ids: list[int] = []
    step = max(4 * count, 1024)  # about 4 characters a token: tokenize only what is needed
    start = 0
    while len(ids) < count and start < len(text):
        end = min(len(text), start + step)
        ids = tokenizer(text[:end], add_special_tokens=False)["input_ids"]
        start = end
    return [int(i) for i in np.asarray(ids[:count]).ravel()]


def windows(ids: list[int], window: int) -> list[list[int]]:
    """Non-overlapping windows of ``window`` tokens (the last may be shorter; none shorter than 2)."""
    if window < 2:
        raise BadInputError(f"a perplexity window needs at least 2 tokens (got {window})")
    chunks = [ids[i: i + window] for i in range(0, len(ids), window)]
    kept = [c for c in chunks if len(c) >= 2]
    if not kept:
        raise DataError(f"the text gives {len(ids)} token(s); perplexity needs at least 2")
    return kept


CALIBRATION_WINDOWS = 16  # GPTQ's calibration: windows of DEFAULT_WINDOW tokens


def calibration_windows(tokenizer: Any, text: str | None = None, count: int = CALIBRATION_WINDOWS, window: int = DEFAULT_WINDOW) -> list[list[int]]:
    """``count`` windows from the end of the text: perplexity scores the opening tokens, so calibration stays clear of them."""
    body = read_text() if text is None else text
    ids = tokenizer(body[-min(len(body), count * window * 8):], add_special_tokens=False)["input_ids"]
    tail = ids[-count * window:]
    kept = [w for w in windows(tail, window) if len(w) >= 16] if len(tail) >= 2 else []
    if not kept:
        raise DataError(f"the calibration text gives {len(tail)} token(s); GPTQ needs at least 16")
    return kept
