import pytest

from edgepress.errors import BadInputError, UnknownNameError
from edgepress.sweeps.grid import grid_from_dict

BASE = {"model": {"builtin": "digits"}, "recipe": [{"name": "fp32", "passes": []}], "formats": ["onnx", "pte"], "targets": ["host-cpu"]}


def test_grid_axes():
    grid = grid_from_dict({**BASE, "recipe": [{"name": "fp32"}, {"name": "p50", "passes": [{"name": "prune.channels", "ratio": 0.5}]}]})
    assert grid.formats == ("onnx", "executorch") and grid.size == 4
    assert grid.recipes[1].passes == ({"name": "prune.channels", "ratio": 0.5},)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": {}}, "exactly one of"),
        ({"recipe": []}, "at least one"),
        ({"recipe": [{"name": "a"}, {"name": "a"}]}, "unique"),
        ({"recipe": [{"name": "../x"}]}, "needs a name"),
        ({"targets": []}, "targets"),
        ({"run": {"iters": "many"}}, "not a number"),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_bad_grids_say_what_is_wrong(change, message):
    with pytest.raises(BadInputError, match=message):
        grid_from_dict({**BASE, **change})


def test_format_typo_gets_a_suggestion():
    with pytest.raises(UnknownNameError, match="did you mean 'onnx'"):
        grid_from_dict({**BASE, "formats": ["onx"]})
