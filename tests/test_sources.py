"""The ``[model]`` table: one parser for recipe files and sweep grids."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepress.errors import BadInputError, EdgepressError, ModelLoadError
from edgepress.recipe_file import RecipeFile
from edgepress.sources import model_format, model_identity, model_table
from edgepress.sweeps.grid import grid_from_dict

PASSES = [{"name": "convert.onnx"}]


def test_paths_are_read_against_the_base_folder_and_come_back_absolute(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "w.pt").write_bytes(b"w")
    assert model_table({"path": "m.onnx"}, "grid", tmp_path) == {"path": str(tmp_path / "m.onnx")}
    table = model_table({"factory": "pkg.mod:make", "weights": "w.pt", "input_shape": [1, 8]}, "grid", tmp_path)
    assert table == {"factory": "pkg.mod:make", "weights": str(tmp_path / "w.pt"), "input_shape": [1, 8]}
    assert model_format({"path": str(tmp_path / "m.onnx")}).value == "onnx" and model_format(table).value == "torch"


@pytest.mark.parametrize(
    ("table", "error", "words"),
    [
        ({}, BadInputError, "exactly one of"),
        ({"builtin": "digits", "path": "m.onnx"}, BadInputError, "exactly one of"),
        ({"builtin": "mnist"}, BadInputError, "unknown builtin model 'mnist'"),
        ({"factory": "pkg.mod:make"}, BadInputError, "needs input_shape"),
        ({"factory": "pkg.mod:make", "input_shape": [1, "8"]}, BadInputError, "positive integers"),
        ({"path": "m.onnx", "weights": "w.pt"}, BadInputError, "takes no weights"),
        ({"path": "missing.onnx"}, ModelLoadError, "does not exist"),
        ({"factory": "pkg.mod:make", "weights": "missing.pt", "input_shape": [1, 8]}, ModelLoadError, "does not exist"),
    ],
)
def test_recipe_files_and_grids_refuse_a_bad_table_alike(tmp_path: Path, monkeypatch, table: dict, error: type, words: str) -> None:
    (tmp_path / "m.onnx").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)  # a recipe reads paths from the current folder, a grid from its own
    with pytest.raises(error, match=words):
        RecipeFile.from_dict({"model": table, "pass": PASSES})
    with pytest.raises(error, match=words):
        grid_from_dict({"model": table, "recipe": [{"name": "a", "passes": []}], "formats": ["onnx"], "targets": ["host-cpu"]}, tmp_path)
    assert issubclass(error, EdgepressError)


def test_a_grid_takes_a_factory(tmp_path: Path) -> None:
    grid = grid_from_dict(
        {"model": {"factory": "pkg.mod:make", "input_shape": [1, 8]}, "recipe": [{"name": "a", "passes": []}], "formats": ["onnx"], "targets": ["host-cpu"]},
        tmp_path,
    )
    assert grid.model == {"factory": "pkg.mod:make", "input_shape": [1, 8]}


def test_a_factory_identity_follows_its_source_file_and_its_weights(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "netmod_identity.py").write_text("def make():\n    return None\n")
    (tmp_path / "w.pt").write_bytes(b"one")
    monkeypatch.chdir(tmp_path)
    table = model_table({"factory": "netmod_identity:make", "weights": "w.pt", "input_shape": [1, 8]}, "grid", tmp_path)
    first = model_identity(table)
    assert model_identity(table) == first
    (tmp_path / "w.pt").write_bytes(b"two")
    second = model_identity(table)
    (tmp_path / "netmod_identity.py").write_text("def make():\n    return 1\n")
    assert len({first, second, model_identity(table)}) == 3
