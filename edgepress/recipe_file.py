"""Recipe files: the model a chain starts from, its passes, where outputs go, what to measure.

A recipe file is TOML; ``edgepress run recipe.toml`` and ``edgepress.run_recipe`` read it::

    [model]
    builtin = "digits"          # the demo's trained digits CNN; or
    # path = "model.pt2"        # any file edgepress.load reads (.pt2, .keras, .onnx, ...); or
    # factory = "pkg.mod:make_net"   weights = "w.pt"   input_shape = [1, 3, 224, 224]

    [output]
    dir = "out/recipe"          # default: "out"

    [[pass]]                    # the passes, in order (see `edgepress passes`)
    name = "prune.channels"
    ratio = 0.5

    [[pass]]
    name = "distill.kd"
    data = "digits"             # or a .npz file with x and y ("digits": the digits training split)
    epochs = 20

    [[pass]]
    name = "convert.onnx"

    [bench]                     # optional: measure the original and every file made
    target = "host-cpu"
    data = "digits"             # or a .npz file; the digits test split here

Relative paths are read from the current folder, as on the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact
from edgepress.errors import BadInputError
from edgepress.passes import Recipe
from edgepress.sources import first_format, load_model, model_format, model_table, module_for
from edgepress.tomlfile import read_toml


@dataclass(frozen=True)
class RecipeFile:
    """A parsed recipe file: model source, passes, output folder and optional measurement."""

    model: Mapping[str, Any]
    recipe: Recipe
    out_dir: Path
    bench: Mapping[str, Any] | None = None

    @classmethod
    def read(cls, path: str | Path) -> RecipeFile:
        """Parse and check a recipe file (no model is loaded, no work starts).

        Example:
            >>> RecipeFile.read("recipe.toml").recipe.passes[0].name
            'prune.channels'
        """
        path = Path(path)
        return cls.from_dict(read_toml(path, "recipe"), where=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "the recipe") -> RecipeFile:
        model = model_table(data.get("model"), where, Path.cwd())
        output = data.get("output", {})
        bench = data.get("bench")
        if bench is not None and not isinstance(bench, Mapping):
            raise BadInputError(f"{where}: 'bench' must be a table (target = \"host-cpu\", data = ...)")
        recipe = Recipe.from_dict(data)
        recipe.check(first_format(model_format(model), recipe))  # the chain fits the model before anything is loaded
        return cls(model, recipe, Path(output.get("dir", "out")), bench)


@dataclass
class RecipeRun:
    """What a recipe run made: the starting model, each step's artifact, measurements."""

    source: Artifact
    steps: tuple[Artifact, ...]
    results: list[Any] = field(default_factory=list)
    results_path: Path | None = None


def run_recipe(path: str | Path, *, out_dir: str | Path | None = None, progress: Callable[[str], None] | None = None) -> RecipeRun:
    """Run a recipe file: load its model, run its passes in order, measure if it asks.

    Args:
        path: the recipe TOML file.
        out_dir: overrides the recipe's ``[output] dir``.
        progress: called with a short message before each stage.

    Example:
        >>> run = edgepress.run_recipe("prune_distill.toml")
        >>> [a.format.value for a in run.steps]
        ['torch', 'torch', 'onnx']
    """
    spec = RecipeFile.read(path)
    say = progress or (lambda _msg: None)
    out = Path(out_dir) if out_dir is not None else spec.out_dir
    say("loading the model")
    source = start_model(spec.model, spec.recipe)
    spec.recipe.check(first_format(source.format, spec.recipe))  # the whole chain is checked before any work
    recipe = with_builtin_data(spec.recipe)
    say(f"running {len(recipe.passes)} pass(es): {', '.join(p.name for p in recipe.passes)}")
    steps = recipe.run(module_for(source, recipe), out)
    run = RecipeRun(source, steps)
    if spec.bench is not None:
        _measure(run, spec.bench, out, say)
    return run


def start_model(model: Mapping[str, Any], recipe: Recipe) -> Artifact:
    """The artifact a recipe starts from (loaded, built by the user's factory, or the built-in one)."""
    art = load_model(model)
    first_format(art.format, recipe)  # a file the first pass cannot start from fails here, before any work
    return art


def with_builtin_data(recipe: Recipe) -> Recipe:
    """Passes with ``data = "digits"`` get the digits training split as a ``.npz`` file."""
    import dataclasses

    from edgepress import digits

    if not any(getattr(p, "data", None) == digits.NAME for p in recipe.passes):
        return recipe
    path = str(digits.train_npz())
    return Recipe(tuple(dataclasses.replace(p, data=path) if getattr(p, "data", None) == digits.NAME else p for p in recipe.passes))


def _measure(run: RecipeRun, bench_spec: Mapping[str, Any], out: Path, say: Callable[[str], None]) -> None:
    from edgepress.measure import bench
    from edgepress.report.results import write_results

    files = [a for a in run.steps if a.path is not None]
    if not files:
        raise BadInputError("the bench table measures files, but the recipe made none; end it with a convert.* pass")
    say(f"measuring {len(files)} artifact(s) on {bench_spec.get('target', 'host-cpu')}")
    data = _bench_data(bench_spec.get("data"))
    run.results = bench(files, target=bench_spec.get("target", "host-cpu"), reference=run.source, data=data, progress=say)
    run.results_path = out / "results.json"
    write_results(run.results_path, run.results)


def _bench_data(data: Any) -> Any:
    from edgepress import digits

    return digits.held_out_arrays() if data == digits.NAME else data
