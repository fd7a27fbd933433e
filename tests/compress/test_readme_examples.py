"""The README's pruning example and recipe file work as written."""

import re
import tomllib
from pathlib import Path

import edgepress
from edgepress.recipe_file import RecipeFile

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README.split("## Pruning, distillation and recipes")[1].split("\n## ")[0]


def test_readme_pruning_example_runs(digits_model, digits, tmp_path, monkeypatch):
    (block,) = re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {"edgepress": edgepress, "m": digits_model, "x": digits.x_train[:300], "y": digits.y_train[:300]}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["small"].report["training"]["epochs_run"] >= 1
    assert (tmp_path / "out" / "digits_cnn.onnx").exists() and (tmp_path / "out" / "digits_cnn.tflite").exists()


def test_readme_recipe_parses():
    (block,) = re.findall(r"```toml\n(.*?)```", SECTION, flags=re.S)
    spec = RecipeFile.from_dict(tomllib.loads(block))
    assert [p.name for p in spec.recipe.passes] == ["prune.channels", "distill.kd", "convert.onnx"]
    assert spec.bench == {"target": "host-cpu", "data": "digits"}


def test_readme_channel_pruning_works_on_the_readme_api_model():
    # The reader's `m` is the model of the README's first example: build it as written there,
    # then prune it with the pruning section's own line (round_to=8 must leave whole groups).
    (api,) = re.findall(r"```python\n(.*?)```", README.split("## Python API")[1].split("\n## ")[0], flags=re.S)
    model_lines = api.split("arts = edgepress.convert")[0]
    (prune_line,) = [line for line in re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)[0].splitlines() if '"channels"' in line]
    namespace: dict = {}
    exec(compile(model_lines + prune_line + "\n", "README.md", "exec"), namespace)  # noqa: S102 - our own README
    small = namespace["small"]
    assert small.report["stats"]["params"] < 0.6 * small.report["source_stats"]["params"]
    conv = small.model.module[0]
    assert conv.out_channels % 8 == 0 and 0 < conv.out_channels < namespace["net"][0].out_channels
