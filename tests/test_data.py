import numpy as np
import pytest

from edgepress.artifact import InputSpec, TensorSpec
from edgepress.data import from_arrays, load_file, random_inputs
from edgepress.errors import DataError

SPEC = InputSpec((TensorSpec("x", ("batch", 3, 4, 4)),), layout="NCHW")


def test_npz_with_labels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 3, 4, 4), np.float32), y=np.arange(5))
    data = load_file(path, SPEC)
    assert data.count == 5 and list(data.labels) == [0, 1, 2, 3, 4] and not data.random


def test_npy_and_dtype_cast(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.ones((2, 3, 4, 4), np.float64))
    data = load_file(path, SPEC)
    assert data.inputs[0].dtype == np.float32 and data.labels is None


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(DataError, match=r"expects samples shaped Nx3x4x4; the data is shaped 2x4x4x3"):
        from_arrays(np.zeros((2, 4, 4, 3), np.float32), None, SPEC)


def test_label_length_and_type():
    x = np.zeros((3, 3, 4, 4), np.float32)
    with pytest.raises(DataError, match="one integer per sample"):
        from_arrays(x, np.arange(2), SPEC)
    with pytest.raises(DataError, match="must be integers"):
        from_arrays(x, np.zeros(3), SPEC)


def test_empty_and_missing(tmp_path):
    with pytest.raises(DataError, match="holds no samples"):
        from_arrays(np.zeros((0, 3, 4, 4), np.float32), None, SPEC)
    with pytest.raises(DataError, match="does not exist"):
        load_file(tmp_path / "none.npz", SPEC)
    bad = tmp_path / "bad.npz"
    bad.write_text("not numpy")
    with pytest.raises(DataError, match="not a readable"):
        load_file(bad, SPEC)


def test_npz_with_wrong_keys(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(DataError, match="expected 'x'"):
        load_file(path, SPEC)


def test_random_inputs_are_seeded_and_flagged():
    a, b = random_inputs(SPEC, count=4, seed=7), random_inputs(SPEC, count=4, seed=7)
    assert a.random and a.inputs[0].shape == (4, 3, 4, 4)
    np.testing.assert_array_equal(a.inputs[0], b.inputs[0])
