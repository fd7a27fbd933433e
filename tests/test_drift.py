import numpy as np
import pytest

from edgepress.drift import accuracy, compare, top1_agreement
from edgepress.errors import RuntimeFailure


def test_identical_outputs_have_no_drift():
    ref = [np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]])]
    d = compare(ref, ref)
    assert d.max_abs == 0 and d.mean_abs == 0 and d.cosine == pytest.approx(1) and d.top1_agreement == 1


def test_known_errors():
    ref = [np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]])]
    out = [np.array([[1.0, 2.0, 3.5], [0.0, 1.0, 3.0]])]
    d = compare(out, ref)
    assert d.max_abs == 3.0 and d.mean_abs == pytest.approx(6.5 / 6)
    assert d.top1_agreement == 0.5 and d.cosine_min == pytest.approx(0.1)
    assert d.samples == 2


def test_non_classifier_outputs_have_no_top1():
    assert top1_agreement(np.zeros((4, 1)), np.zeros((4, 1))) is None
    assert compare([np.ones((2, 8, 8))], [np.ones((2, 8, 8))]).top1_agreement is None


def test_shape_mismatch_is_a_runtime_failure():
    with pytest.raises(RuntimeFailure, match="shaped"):
        compare([np.zeros((2, 3))], [np.zeros((2, 4))])


def test_accuracy_against_labels():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(logits, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(logits, None) is None
