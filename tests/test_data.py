import numpy as np
import pytest

from edgepress.artifact import InputSpec, TensorSpec
from edgepress.data import check_label_classes, from_arrays, label_classes_exceeded, load_file, random_inputs, training_arrays
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


def test_nonfinite_inputs_are_refused_after_the_cast(tmp_path):
    x = np.zeros((4, 3, 4, 4), np.float32)
    x[2, 1, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"1 of 4 samples hold NaN or infinite values as float32 \(the first is sample 2\)"):
        from_arrays(x, None, SPEC)
    big = np.full((4, 3, 4, 4), 1e300)  # finite as float64, infinite as the model's float32
    with pytest.raises(DataError, match="4 of 4 samples"):
        from_arrays(big, None, SPEC)
    with pytest.raises(DataError, match="training inputs x"):
        training_arrays((np.where(np.arange(8).reshape(8, 1) == 3, np.inf, 0.0), np.zeros(8, np.int64)))


def test_unreadable_files_say_why(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")  # numpy raises EOFError, which the CLI would read as Ctrl-D
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([[1.0], "a"], dtype=object), y=np.arange(2))
    for path, words in ((empty, "empty \\(0 bytes\\)"), (objects, "Python-object array")):
        with pytest.raises(DataError, match=words):
            load_file(path, SPEC)
        with pytest.raises(DataError, match=words):
            training_arrays(path)


def test_labels_must_be_classes_of_the_output():
    x = np.zeros((3, 3, 4, 4), np.float32)
    with pytest.raises(DataError, match="sample 1 has label -2"):
        from_arrays(x, np.array([0, -2, 1]), SPEC)
    logits = np.zeros((3, 10), np.float32)
    with pytest.raises(DataError, match="up to 1000, but the model's first output has 10 classes"):
        check_label_classes(np.array([0, 1000, 3]), logits)
    check_label_classes(np.array([0, 9, 3]), logits)  # in range
    check_label_classes(np.array([0, 1000, 3]), np.zeros((3,), np.float32))  # not a classifier output: nothing to check
    assert label_classes_exceeded(np.array([0, 10]), logits) == 10 and label_classes_exceeded(None, logits) is None
