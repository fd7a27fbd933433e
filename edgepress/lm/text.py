"""Evaluation text and the token windows every model is scored on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepress.errors import BadInputError, DataError

DEFAULT_TEXT = "Python's own documentation topics (pydoc_data.topics)"
DEFAULT_EVAL_TOKENS = 4096  # tokens scored for perplexity
DEFAULT_WINDOW = 512  # tokens of context per perplexity window


def read_text(path: str | Path | None = None) -> str:
    """The user's text file, or Python's documentation topics (English technical prose, always installed)."""
    if path is None:
        import pydoc_data.topics

        return "\n\n".join(pydoc_data.topics.topics.values())
    file = Path(path)
    if not file.is_file():
        raise BadInputError(f"--text file not found: {file}")
    text = file.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise DataError(f"--text file {file} is empty; give a file with the text to score on")
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
