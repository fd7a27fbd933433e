"""edgepress imports from the working directory only what the user names there.

A module in the folder a command starts in is never run by chance (not by the CLI, not by
its converter children), while ``--factory``, a recipe's ``factory`` and
``EDGEPRESS_PLUGINS`` find the user's own package in that folder.
"""

import pytest

PACKAGE = {
    "mypkg/__init__.py": "",
    "mypkg/models.py": "import torch\n\n\ndef make_net():\n    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU())\n",
}


@pytest.fixture
def project(tmp_path):
    """The user's project folder: their package, and stdlib-shadowing modules that leave a mark when run."""
    for name, text in PACKAGE.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    for name in ("concurrent", "json"):
        (tmp_path / f"{name}.py").write_text(f"open({str(tmp_path / ('RAN_' + name))!r}, 'w').close()\n")
    return tmp_path


@pytest.mark.slow
def test_a_module_in_the_working_directory_is_never_run(cli, pt2_path, project):
    proc = cli("convert", pt2_path, "--to", "onnx", "--out", "out", "-q")  # the cli fixture runs in project (tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (project / "out" / "resnet_tiny.onnx").exists()
    assert not list(project.glob("RAN_*"))


@pytest.mark.slow
def test_factory_finds_the_users_package_in_the_working_directory(cli, project):
    proc = cli("convert", "--factory", "mypkg.models:make_net", "--input-shape", "1x8", "--to", "onnx", "--out", "out", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "out/make_net.onnx" and (project / "out" / "make_net.onnx").exists()
    assert not list(project.glob("RAN_*"))  # the folder is searched for the named module only


@pytest.mark.slow
def test_a_recipe_factory_finds_the_users_package_too(cli, project):
    (project / "recipe.toml").write_text('[model]\nfactory = "mypkg.models:make_net"\ninput_shape = [1, 8]\n\n[output]\ndir = "made"\n\n[[pass]]\nname = "convert.onnx"\n')
    proc = cli("run", "recipe.toml", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "made/make_net.onnx" and (project / "made" / ".edgepress" / "logs" / "run.log").exists()


def test_import_named_leaves_sys_path_as_it_was(project, monkeypatch):
    import sys

    from edgepress.usercode import import_named

    monkeypatch.chdir(project)
    before = list(sys.path)
    try:
        assert callable(import_named("mypkg.models").make_net)
        assert sys.path == before and str(project) not in sys.path
    finally:
        for name in ("mypkg.models", "mypkg"):
            sys.modules.pop(name, None)


GRID = """formats = ["onnx"]
targets = ["host-cpu"]

[model]
factory = "mypkg.models:make_net"
input_shape = [1, 8]

[run]
iters = 2
min_seconds = 0.0
warmup = 1

[[recipe]]
name = "fp32"
passes = []

[[recipe]]
name = "int8dyn"
passes = [{ name = "quantize.int8_dynamic" }]
"""


@pytest.mark.slow
def test_a_grid_factory_sweeps_and_its_cache_follows_the_factory_source(cli, project):
    # The same [model] table as a recipe's: the grid finds the user's package in the working folder.
    import json

    (project / "grid.toml").write_text(GRID)
    first = cli("sweep", "grid.toml", "--out", "sw", "--jobs", "1", "-q")
    assert first.returncode == 0, first.stderr
    summary = json.loads((project / "sw" / "sweep.json").read_text())
    assert (summary["ran"], summary["cached"], summary["failed"]) == (2, 0, 0)
    again = cli("sweep", "grid.toml", "--out", "sw", "--jobs", "1", "-q")
    assert json.loads((project / "sw" / "sweep.json").read_text())["cached"] == 2, again.stderr
    # A changed factory is a changed model: its cells run again.
    (project / "mypkg" / "models.py").write_text(PACKAGE["mypkg/models.py"].replace("Linear(8, 4)", "Linear(8, 3)"))
    changed = cli("sweep", "grid.toml", "--out", "sw", "--jobs", "1", "-q")
    summary = json.loads((project / "sw" / "sweep.json").read_text())
    assert changed.returncode == 0 and (summary["ran"], summary["cached"]) == (2, 0), changed.stderr
    assert not list(project.glob("RAN_*"))
