"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README must hold a Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert (tmp_path / "out" / "results.json").exists()
    assert namespace["results"][1].drift.max_abs < 1e-4


def test_readme_grid_and_recipe_examples_parse(tmp_path):
    # Checked as edgepress reads them (nothing runs): a grid has formats, a recipe file passes.
    import tomllib

    from edgepress.recipe_file import RecipeFile
    from edgepress.sweeps.grid import grid_from_dict

    blocks = [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)]
    grids, recipes = [b for b in blocks if "formats" in b], [b for b in blocks if "pass" in b]
    assert len(grids) == 1 and len(recipes) == 1
    assert grid_from_dict(grids[0], tmp_path).size == 2 * 3 * 2
    assert [p.name for p in RecipeFile.from_dict(recipes[0]).recipe.passes] == ["prune.channels", "distill.kd", "convert.onnx"]
