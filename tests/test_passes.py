import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest

import edgepress
from edgepress.artifact import Format, sha256_of_files
from edgepress.errors import BadInputError, FormatChainError, UnknownNameError
from edgepress.passes import Recipe, apply, create, describe, register, registry

PASS_NAMES = sorted(registry())
# Passes that train need labelled data; the contract test gives them a small file.
TRAINING_OPTIONS = {"distill.kd": {"epochs": 1}, "quantize.qat": {"epochs": 1}}


@pytest.fixture(scope="session")
def sources(torch_model, pt2_path, onnx_artifact, session_dir):
    """One source artifact per format the contract test can feed a pass."""
    import torch

    from tests.conftest import INPUT_SHAPE
    from tests.models import keras_cnn

    keras_model = edgepress.from_keras(keras_cnn("keras3"), name="keras_cnn")
    script = session_dir / "resnet_tiny.pt"  # a TorchScript file, as torch.jit.trace + save make one
    torch.jit.trace(torch_model.model.module, torch.randn(*INPUT_SHAPE)).save(str(script))
    return {Format.TORCH: torch_model, Format.TORCH_EXPORT: edgepress.load(pt2_path), Format.ONNX: onnx_artifact, Format.KERAS: keras_model,
            Format.TORCHSCRIPT: edgepress.load(script, input_shape=INPUT_SHAPE)}


@pytest.mark.parametrize("name", PASS_NAMES)
def test_every_registered_pass_honours_the_contract(name, sources, tmp_path, eval_npz):
    cls = registry()[name]
    p = cls(**({"data": str(eval_npz), **TRAINING_OPTIONS[name]} if name in TRAINING_OPTIONS else {}))
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    assert p.name == name and p.summary and p.accepts
    preference = (Format.TORCH, Format.TORCH_EXPORT, Format.ONNX, Format.KERAS, Format.TORCHSCRIPT)
    source_fmt = next((f for f in preference if f in p.accepts and f in sources), None)
    if source_fmt is None:
        pytest.skip(f"no test source for formats {sorted(f.value for f in p.accepts)}")
    source = sources[source_fmt]
    made = apply(p, source, tmp_path)
    assert made.format is p.output_format(source_fmt)
    assert made.lineage == (*source.lineage, describe(p))
    if made.path is None:  # a compression pass: a new in-memory model, nothing written
        assert made.model is not None and made.model is not source.model and not list(tmp_path.iterdir())
    else:
        assert made.path.exists() and made.sha256 == sha256_of_files(made.files)
    assert not list(tmp_path.glob(".staging-*")), "staging folders must be cleaned up"
    again = apply(p, source, tmp_path)
    assert (again.path, again.sha256) == (made.path, made.sha256)


def test_duplicate_pass_name_raises():
    with pytest.raises(ValueError, match="already registered"):

        @register
        @dataclass(frozen=True)
        class Impostor:
            name: ClassVar[str] = "convert.onnx"


def test_unknown_pass_name_gets_did_you_mean():
    with pytest.raises(UnknownNameError, match="did you mean 'convert.onnx'"):
        create("convert.onx")


def test_create_coerces_and_rejects_options():
    assert create("convert.onnx", {"opset": "17"}).opset == 17
    with pytest.raises(BadInputError, match="has no option 'opsett'"):
        create("convert.onnx", {"opsett": 17})
    with pytest.raises(BadInputError, match="expected true or false"):
        create("convert.onnx", {"dynamic_batch": "yes"})


def test_recipe_loads_from_toml_and_checks_the_chain_first(tmp_path, torch_model):
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text('[[pass]]\nname = "convert.onnx"\n\n[[pass]]\nname = "convert.pt2"\n')
    recipe = Recipe.from_toml(recipe_file)
    with pytest.raises(FormatChainError, match=r"step 2: pass 'convert.pt2' cannot take a onnx model.*after: convert.onnx"):
        recipe.run(torch_model, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "no work may start before the chain is checked"


def test_recipe_runs_in_order(tmp_path, torch_model):
    recipe = Recipe.from_dict({"pass": [{"name": "convert.pt2"}, {"name": "convert.onnx", "opset": 18}]})
    pt2, onnx_art = recipe.run(torch_model, tmp_path)
    assert pt2.format is Format.TORCH_EXPORT and onnx_art.format is Format.ONNX
    assert onnx_art.lineage == ("convert.pt2()", "convert.onnx(opset=18, dynamic_batch=True)")


def test_recipe_failure_names_the_pass_and_those_before(tmp_path, pt2_path):
    recipe = Recipe.from_dict({"pass": [{"name": "convert.onnx", "opset": 1}]})
    with pytest.raises(edgepress.EdgepressError, match=r"pass 'convert.onnx' failed.*\(it was the first pass\)"):
        recipe.run(edgepress.load(pt2_path), tmp_path)


def test_recipe_file_errors_are_bad_input(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[pass]\n")
    with pytest.raises(BadInputError, match="not valid TOML"):
        Recipe.from_toml(bad)
    with pytest.raises(BadInputError, match="does not exist"):
        Recipe.from_toml(tmp_path / "missing.toml")
    with pytest.raises(BadInputError, match="at least one"):
        Recipe.from_dict({})
