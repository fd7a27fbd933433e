import hashlib

import pytest

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec, sha256_of_files
from edgepress.errors import UnknownNameError


def test_format_parse_accepts_names_and_aliases():
    assert Format.parse("ONNX") is Format.ONNX
    assert Format.parse("pte") is Format.EXECUTORCH
    assert Format.parse("ptl") is Format.TORCHSCRIPT_LITE


def test_format_parse_suggests_the_closest_name():
    with pytest.raises(UnknownNameError, match="did you mean 'onnx'"):
        Format.parse("onx")


def test_input_spec_reports_dynamic_dims_and_round_trips():
    spec = InputSpec((TensorSpec("x", ("batch", 3, 8, 8)), TensorSpec("mask", (2, 5), "int64")), layout="NCHW")
    assert spec.names == ("x", "mask")
    assert spec.dynamic_dims == {"x": {0: "batch"}}
    assert spec.tensors[0].concrete_shape(batch=4) == (4, 3, 8, 8)
    assert InputSpec.from_dict(spec.to_dict()) == spec


def test_artifact_hash_and_size_cover_side_files(tmp_path):
    main, side = tmp_path / "m.onnx", tmp_path / "m.onnx.data"
    main.write_bytes(b"model")
    side.write_bytes(b"weights!")
    spec = InputSpec((TensorSpec("x", (1, 4)),))
    art = Artifact.from_file(main, Format.ONNX, spec, lineage=["convert.onnx()"], side_files=[side])
    assert art.size_bytes == 13
    assert art.sha256 == hashlib.sha256(b"modelweights!").hexdigest()
    assert art.files == (main, side)
    assert art.to_dict()["lineage"] == ["convert.onnx()"]
    assert sha256_of_files([main]) == hashlib.sha256(b"model").hexdigest()


def test_artifact_is_immutable(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"x")
    art = Artifact.from_file(path, Format.ONNX, InputSpec(()))
    with pytest.raises(AttributeError):
        art.size_bytes = 0  # type: ignore[misc]
    assert art.derive(lineage=("a",)).lineage == ("a",) and art.lineage == ()
