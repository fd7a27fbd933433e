import json

import pytest

from edgepress.artifact import Artifact, Format, InputSpec, TensorSpec
from edgepress.errors import BadInputError
from edgepress.storage import cached, check_writable_dir, check_writable_file, publish, staging_dir, write_json_atomic

SPEC = InputSpec((TensorSpec("x", (1, 2)),))


def _stage(tmp, name=b"model"):
    path = tmp / "m.onnx"
    path.write_bytes(name)
    side = tmp / "m.onnx.data"
    side.write_bytes(b"w")
    return Artifact.from_file(path, Format.ONNX, SPEC, side_files=[side])


def test_publish_moves_files_and_cache_finds_them(tmp_path):
    out = tmp_path / "out"
    with staging_dir(out) as tmp:
        final = publish(_stage(tmp), out, "key-1")
    assert final.path == out / "m.onnx" and final.side_files == (out / "m.onnx.data",)
    assert [p.name for p in out.iterdir() if p.name.startswith(".staging")] == []
    hit = cached(out, "m.onnx", "key-1")
    assert hit is not None and hit.sha256 == final.sha256
    assert cached(out, "m.onnx", "key-2") is None


def test_tampered_file_is_not_reused(tmp_path):
    out = tmp_path / "out"
    with staging_dir(out) as tmp:
        publish(_stage(tmp), out, "k")
    (out / "m.onnx.data").write_bytes(b"changed")
    assert cached(out, "m.onnx", "k") is None


def test_failed_pass_leaves_nothing_behind(tmp_path):
    out = tmp_path / "new" / "out"
    existing = tmp_path / "existing"
    existing.mkdir()
    for folder in (out, existing):
        try:
            with staging_dir(folder) as tmp:
                (tmp / "half.onnx").write_bytes(b"half")
                raise RuntimeError("converter died")
        except RuntimeError:
            pass
    # the folders the failed pass created are gone; the one the user had is kept, empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"] and list(existing.iterdir()) == []


def test_write_json_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "r.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_write_json_atomic_leaves_no_temp_file_when_the_rename_fails(tmp_path):
    (tmp_path / "r.json").mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(IsADirectoryError):
        write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"] and list((tmp_path / "r.json").iterdir()) == []


def test_output_checks_refuse_and_create_nothing(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    refusals = [
        (check_writable_dir, "f", "is a file, not a folder"),
        (check_writable_dir, "f/sub/deeper", "f is a file, so no folder"),
        (check_writable_file, "d", "is a folder, not a file"),
        (check_writable_file, "f/r.json", "f is a file, so no folder"),
        (check_writable_file, "/proc/1/r.json", "cannot write in /proc/1"),  # os.access says yes; the probe says no
    ]
    for check, path, words in refusals:
        target = path if path.startswith("/") else tmp_path / path
        with pytest.raises(BadInputError, match=words):
            check(target, "--out")
    assert check_writable_dir(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    assert check_writable_file(tmp_path / "d" / "r.json", "--json") == tmp_path / "d" / "r.json"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["d", "f"]  # no folder made, no probe file left
