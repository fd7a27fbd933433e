"""Recipe files: parsing, the model they start from, built-in data, the shipped example."""

from pathlib import Path

import numpy as np
import pytest

from edgepress.errors import BadInputError
from edgepress.passes import Recipe
from edgepress.recipe_file import RecipeFile, start_model, with_builtin_data

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "recipes" / "prune_distill.toml"


def test_shipped_example_chains_prune_distill_quantize_convert():
    spec = RecipeFile.read(EXAMPLE)
    assert [p.name for p in spec.recipe.passes] == ["prune.channels", "distill.kd", "quantize.int8_static", "convert.tflite"]
    assert spec.model == {"builtin": "digits"} and spec.bench["target"] == "host-cpu"


def test_digits_data_becomes_a_training_file():
    recipe = with_builtin_data(Recipe.from_dict({"pass": [{"name": "prune.channels"}, {"name": "distill.kd", "data": "digits"}]}))
    path = Path(recipe.passes[1].data)
    with np.load(path) as data:
        assert data["x"].shape[1:] == (1, 8, 8) and len(data["x"]) == len(data["y"]) > 1000


def test_a_pt2_file_cannot_start_a_module_editing_recipe(pt2_path):
    recipe = Recipe.from_dict({"pass": [{"name": "prune.channels"}]})
    with pytest.raises(BadInputError, match="edits a PyTorch module.*factory"):
        start_model({"path": str(pt2_path)}, recipe)


def test_model_table_needs_exactly_one_source():
    with pytest.raises(BadInputError, match="exactly one of"):
        RecipeFile.from_dict({"model": {"builtin": "digits", "path": "m.pt2"}, "pass": [{"name": "convert.onnx"}]})
