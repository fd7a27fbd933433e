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

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError
from edgepress.passes import Recipe
from edgepress.tomlfile import read_toml

MODEL_KEYS = ("builtin", "path", "factory")
BUILTIN_MODELS = ("digits",)


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
        model = data.get("model")
        if not isinstance(model, Mapping) or sum(k in model for k in MODEL_KEYS) != 1:
            raise BadInputError(
                f"{where} needs a 'model' table with exactly one of: builtin = \"digits\", path = \"model.pt2\", "
                "factory = \"package.module:function\""
            )
        if "builtin" in model and model["builtin"] not in BUILTIN_MODELS:
            raise BadInputError(f"{where}: unknown builtin model {model['builtin']!r} (known: {', '.join(BUILTIN_MODELS)})")
        output = data.get("output", {})
        bench = data.get("bench")
        if bench is not None and not isinstance(bench, Mapping):
            raise BadInputError(f"{where}: 'bench' must be a table (target = \"host-cpu\", data = ...)")
        recipe = Recipe.from_dict(data)
        source = file_format(model["path"]) if "path" in model else Format.TORCH
        recipe.check(first_format(source, recipe))  # the chain fits the model before anything is loaded
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
    from edgepress.intake import from_factory, load

    if "builtin" in model:
        return digits_model()
    shape = model.get("input_shape")
    if "factory" in model:
        if not shape:
            raise BadInputError("a [model] factory needs input_shape = [1, 3, 224, 224] (its example input)")
        return from_factory(model["factory"], model.get("weights"), shape)
    art = load(model["path"], input_shape=shape)
    first_format(art.format, recipe)  # a file the first pass cannot start from fails here, before any work
    return art


def file_format(path: str | Path) -> Format:
    """A model file's format from its suffix (a folder is a Keras SavedModel); nothing is loaded.

    Example:
        >>> file_format("model.pt2")
        <Format.TORCH_EXPORT: 'pt2'>
    """
    from edgepress.errors import ModelLoadError
    from edgepress.intake import SUFFIX_FORMATS

    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model file {path} does not exist")
    fmt = Format.KERAS if path.is_dir() else SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ModelLoadError(f"{path}: unknown model suffix {path.suffix!r} (edgepress reads: {', '.join(SUFFIX_FORMATS)})")
    return fmt


# Passes that take the module of a loaded .pt2 (``intake.module_of_program``): they quantize
# through PT2E, which works on exported graphs, as ``edgepress quantize model.pt2`` does.
# Pruning and distillation edit and train layer objects (nn.Conv2d, nn.Linear), which a
# saved program does not hold: torch.export keeps a traced graph of aten ops.
PROGRAM_PASSES = frozenset({"quantize.int8_static", "quantize.int8_dynamic", "quantize.qat"})


def first_format(source: Format, recipe: Recipe) -> Format:
    """The format the recipe's first pass gets from a ``source`` model (a .pt2 becomes its module for PROGRAM_PASSES).

    Raises BadInputError, before any work, when the first pass edits a PyTorch module
    and ``source`` is a file that holds none.

    Example:
        >>> first_format(Format.TORCH_EXPORT, Recipe((create("quantize.int8_static"),)))
        <Format.TORCH: 'torch'>
    """
    first = recipe.passes[0] if recipe.passes else None
    if first is None or source is Format.TORCH or source in first.accepts or Format.TORCH not in first.accepts:
        return source  # nothing to adapt; Recipe.check names any other misfit
    if first.name in PROGRAM_PASSES:
        return Format.TORCH if source is Format.TORCH_EXPORT else source  # else Recipe.check names the misfit
    if first.name.startswith("convert."):
        return source  # a converter that takes a module only (convert.pt2): Recipe.check says what it takes
    held = " (it holds a torch.export graph of aten ops)" if source is Format.TORCH_EXPORT else ""
    raise BadInputError(
        f"pass {first.name!r} edits a PyTorch module's layers (nn.Conv2d, nn.Linear), which a {source.value} file does not hold{held}; "
        "a .pt2 feeds quantize.* and convert.* passes. Start from the module instead: edgepress.from_torch in Python, or a recipe "
        "with [model] factory = \"package.module:function\", weights and input_shape (end it with convert.pt2 to sweep the result)"
    )


def module_for(source: Artifact, recipe: Recipe) -> Artifact:
    """``source`` as the recipe's first pass takes it: a loaded .pt2 as its module for quantize.* passes."""
    from edgepress.intake import module_of_program

    if first_format(source.format, recipe) is source.format:
        return source
    return module_of_program(source)


def with_builtin_data(recipe: Recipe) -> Recipe:
    """Passes with ``data = "digits"`` get the digits training split as a ``.npz`` file."""
    import dataclasses

    if not any(getattr(p, "data", None) == "digits" for p in recipe.passes):
        return recipe
    path = str(digits_train_npz())
    return Recipe(tuple(dataclasses.replace(p, data=path) if getattr(p, "data", None) == "digits" else p for p in recipe.passes))


def digits_train_npz() -> Path:
    """The digits training split as ``x``/``y`` arrays in the cache (written once, atomically)."""
    import os
    import tempfile

    import numpy as np

    from edgepress.demo import cache_dir, load_digits_split

    path = cache_dir() / "data" / "digits-train.npz"
    if not path.exists():
        split = load_digits_split()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, x=split.x_train, y=split.y_train)
        os.replace(tmp, path)
    return path


def digits_model() -> Artifact:
    """The demo's digits CNN, trained on the digits training split (cached after the first run)."""
    import torch

    from edgepress.demo import load_digits_split, trained_digits_cnn
    from edgepress.intake import from_torch

    split = load_digits_split()
    return from_torch(trained_digits_cnn(split), torch.from_numpy(split.x_test[:1]), name="digits_cnn")


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
    if data == "digits":
        from edgepress.demo import load_digits_split

        split = load_digits_split()
        return (split.x_test, split.y_test)
    return data
