"""The language-model rows of the conversion matrix, and a format they do not go to refused with the reason."""

from __future__ import annotations

import pytest

from edgepress.artifact import Format
from edgepress.errors import BadInputError
from edgepress.lm.api import MADE, check_formats
from edgepress.lm.hf import Task
from edgepress.lm.routes import NOT_MADE, ROUTES, matrix_rows


def test_every_made_format_has_a_route_for_each_task_and_the_rest_a_reason():
    for task in Task:
        assert set(ROUTES[task]) == set(MADE)
    rows = matrix_rows((Format.ONNX, Format.TORCHSCRIPT_LITE))
    assert [r.split(" | ")[0] for r in rows] == ["| hf text-generation", "| hf feature-extraction"]
    assert "| yes: ONNX Runtime GenAI's model builder" in rows[0] and "| yes: torch.onnx" in rows[1]
    assert all(f"| no: {NOT_MADE[Format.TORCHSCRIPT_LITE]} |" in r for r in rows)


@pytest.mark.parametrize("name, words", [("ptl", "deprecated upstream"), ("pt2", "ships inside the .pte"), ("keras", "not keras")])
def test_a_format_a_language_model_does_not_go_to_is_refused_with_why(name, words):
    with pytest.raises(BadInputError, match=words):
        check_formats(["onnx", name])
