"""Quality metrics against hand computations."""

import math

import numpy as np
import pytest

from edgepress.lm.quality import Tally, cosines, log_softmax, mean_pool, perplexity


def test_perplexity_is_exp_of_the_mean_negative_log_likelihood():
    # two positions over a 2-token vocabulary: p(target) = 0.8, then 0.5
    logits = np.log(np.array([[0.8, 0.2], [0.5, 0.5]]))
    tally = Tally()
    tally.add(logits, np.array([0, 1]))
    expected = math.exp(-(math.log(0.8) + math.log(0.5)) / 2)
    assert tally.summary()["perplexity"] == pytest.approx(expected, rel=1e-12)
    assert perplexity(2 * math.log(3), 2) == pytest.approx(3)


def test_agreement_and_kl_against_a_reference():
    ref = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))
    art = np.log(np.array([[0.6, 0.3, 0.1], [0.5, 0.3, 0.2]]))  # first argmax agrees, second does not
    tally = Tally()
    tally.add(art, np.array([0, 2]), reference=ref)
    kl = [sum(p * math.log(p / q) for p, q in zip(r, a)) for r, a in ([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]], [[0.1, 0.3, 0.6], [0.5, 0.3, 0.2]])]
    summary = tally.summary()
    assert summary["next_token_agreement"] == 0.5
    assert summary["kl_div"] == pytest.approx(sum(kl) / 2, rel=1e-9)


def test_log_softmax_is_stable_for_large_logits():
    out = log_softmax(np.array([[1000.0, 1000.0]], dtype=np.float32))
    assert np.allclose(out, math.log(0.5))


def test_mean_pool_ignores_padding_and_cosines_are_row_wise():
    hidden = np.array([[[1.0, 0.0], [3.0, 2.0], [100.0, 100.0]]])
    pooled = mean_pool(hidden, np.array([[1, 1, 0]]))
    assert np.allclose(pooled, [[2.0, 1.0]])
    sims = cosines(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [-1.0, -1.0]]))
    assert np.allclose(sims, [1.0, -1.0])
