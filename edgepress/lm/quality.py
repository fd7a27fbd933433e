"""Quality of a language-model artifact against its reference: perplexity, agreement, KL, cosine.

Plain numpy on logits, so each number can be checked by hand (the tests do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p over the last axis, computed in float64 (vocabularies reach 10^5 entries)."""
    x = logits.astype(np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclass
class Tally:
    """Sums over scored positions; one Tally per model, added to window by window."""

    nll: float = 0.0
    positions: int = 0
    agree: int = 0
    kl: float = 0.0
    compared: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, logits: np.ndarray, targets: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Score logits [positions, vocab] predicting ``targets``; against ``reference`` logits when given."""
        logp = log_softmax(logits)
        self.nll -= float(logp[np.arange(len(targets)), targets].sum())
        self.positions += len(targets)
        if reference is None:
            return
        ref = log_softmax(reference)
        self.agree += int((logp.argmax(-1) == ref.argmax(-1)).sum())
        self.kl += float((np.exp(ref) * (ref - logp)).sum())
        self.compared += len(targets)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"perplexity": perplexity(self.nll, self.positions), "scored_tokens": self.positions}
        if self.compared:
            out |= {"next_token_agreement": self.agree / self.compared, "kl_div": self.kl / self.compared}
        return out


def perplexity(nll_sum: float, count: int) -> float:
    """exp of the mean negative log-likelihood per predicted token."""
    return float(np.exp(nll_sum / count))


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence embeddings: the mean of token states where the attention mask is 1 (sentence-transformers' pooling)."""
    weights = mask[..., None].astype(np.float64)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [n, d] arrays."""
    dot = (a * b).sum(-1)
    return dot / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
