"""One sweep cell, run in a worker: recipe passes, conversion, measurement -> a result dict.

A cell takes and returns plain data (picklable for a process pool, serialisable for
Ray). Whatever goes wrong inside a cell becomes that cell's ``error``; the sweep goes on.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from edgepress.artifact import Artifact, Format
from edgepress.errors import EdgepressError

ARTIFACTS_DIR = "artifacts"


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one cell described by ``spec``; returns ``{"result": BenchResult dict, "seconds": s}``.

    ``spec`` keys: model, data, plugins, recipe (name, passes), format, target, settings, out_dir.
    """
    from edgepress.passes import plugins_enabled

    started = time.perf_counter()
    try:
        with plugins_enabled(spec.get("plugins", ())):
            result = _measure(spec)
    except EdgepressError as exc:
        result = error_result(spec, str(exc))
    except Exception as exc:  # a library bug in one cell must not end the sweep
        result = error_result(spec, f"{type(exc).__name__}: {exc}")
    return {"result": result, "seconds": time.perf_counter() - started}


def error_result(spec: dict[str, Any], message: str, artifact: Artifact | None = None) -> dict[str, Any]:
    """A failed cell's result dict (the artifact facts are placeholders when none was made)."""
    from edgepress.results import BenchResult

    facts = artifact.to_dict() if artifact is not None and artifact.path else placeholder_artifact(spec)
    return BenchResult(artifact={**facts, "recipe": spec["recipe"]["name"]}, target=spec["target"], settings=spec["settings"], error=message).to_dict()


def placeholder_artifact(spec: dict[str, Any]) -> dict[str, Any]:
    """Artifact facts for a cell that never produced a file (empty hash, size 0)."""
    return {"path": None, "format": spec["format"], "sha256": "", "size_bytes": 0, "side_files": [], "input_spec": {"tensors": [], "layout": None}, "lineage": [p["name"] for p in spec["recipe"]["passes"]], "report": {}}


def model_hash(model: dict[str, Any]) -> str:
    """Content hash of the grid's model without importing torch when the weights exist."""
    from edgepress.sources import model_identity

    return model_identity(model)


def data_hash(model: dict[str, Any], data: dict[str, Any]) -> str:
    """Identity of the evaluation data: the file's hash, the builtin split, or random inputs."""
    if "path" in data:
        from edgepress.sources import file_sha256

        return file_sha256(Path(data["path"]))
    from edgepress import digits

    return digits.DATA_ID if "builtin" in model else "random-inputs"


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    from edgepress.measure import bench
    from edgepress.targets.base import RunSettings

    model, data = _load(json.dumps(spec["model"], sort_keys=True), json.dumps(spec["data"], sort_keys=True))
    made = _build(spec, model)
    if isinstance(made, dict):
        return made
    settings = RunSettings(**spec["settings"])
    result = bench(made, target=spec["target"], reference=model, data=data, settings=settings)[0]
    result.artifact["recipe"] = spec["recipe"]["name"]
    return result.to_dict()


def _build(spec: dict[str, Any], model: Artifact) -> Artifact | dict[str, Any]:
    """The recipe's passes, then the converter to the cell's format (content-addressed files)."""
    from edgepress.conversion import ConversionFailure, convert
    from edgepress.passes import Recipe, create
    from edgepress.sources import module_for

    out = Path(spec["out_dir"]) / ARTIFACTS_DIR / spec["recipe"]["name"]
    recipe = Recipe(tuple(create(p["name"], {k: v for k, v in p.items() if k != "name"}) for p in spec["recipe"]["passes"]))
    art = recipe.run(module_for(model, recipe), out)[-1] if recipe.passes else model
    fmt = Format(spec["format"])
    if art.format is fmt and art.path is not None:
        return art
    made = convert(art, [fmt], out_dir=out, errors="collect")[0]
    if isinstance(made, ConversionFailure):
        return error_result(spec, f"converting to {fmt.value} failed: {made.error}", art)
    return made


@functools.lru_cache(maxsize=2)
def _load(model_json: str, data_json: str) -> tuple[Artifact, Any]:
    """The reference model and evaluation data, loaded once per worker process."""
    from edgepress import digits
    from edgepress.sources import load_model

    model, data = json.loads(model_json), json.loads(data_json)
    if data.get("path"):
        return load_model(model), data["path"]
    return load_model(model), digits.held_out_arrays() if "builtin" in model else None
