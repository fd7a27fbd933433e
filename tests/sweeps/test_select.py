import pytest

from edgepress.errors import BadInputError
from edgepress.sweeps.select import choose, parse_drop
from tests.report.test_pareto import cell


def test_best_within_budget_and_why():
    cells = [cell("fp32", 400, 2.0, 0.99), cell("int8", 100, 0.5, 0.985), cell("prune", 80, 0.3, 0.90)]
    choice = choose(cells, 0.01, "latency")
    assert choice.within_budget and choice.result is cells[1]
    assert "int8/onnx" in choice.reason and "prune/onnx" in choice.reason  # names the faster one that missed


def test_closest_when_nothing_fits():
    cells = [cell("a", 100, 1.0, 0.95), cell("b", 50, 0.5, 0.90)]
    choice = choose(cells, 0.01, "size")
    assert not choice.within_budget and choice.result is cells[0]
    assert "missing the budget by 3.00 points" in choice.reason


def test_parse_drop():
    assert parse_drop("1%") == pytest.approx(0.01) and parse_drop("0.02") == 0.02
    with pytest.raises(BadInputError):
        parse_drop("5")
