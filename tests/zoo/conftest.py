"""The zoo's CLI runner and its results table (``pytest tests/zoo --zoo-table``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

Runner = Callable[..., subprocess.CompletedProcess]

# Results of every zoo model run in this session, {model: {column: cell}}, for the table.
ZOO_RESULTS: dict[str, dict[str, Any]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--zoo-table", action="store_true", help="print the model zoo's table (model x format: works / refused / failed, with drift)")


def edgepress_script() -> Path:
    """The installed ``edgepress`` command beside this interpreter.

    The console script, not ``python -m edgepress``: ``-m`` puts the working directory on
    the CLI's own sys.path, which a user's ``edgepress`` never does, so a shadowing module
    in the cwd would be imported by the test's invocation rather than by edgepress.
    """
    script = Path(sys.executable).with_name("edgepress")
    if not script.is_file():
        pytest.fail(f"no edgepress command beside {sys.executable}: install the project (pip install -e .) first")
    return script


@pytest.fixture
def edgepress(tmp_path: Path) -> Runner:
    """Run ``edgepress ARGS`` as a user would (same environment as tests/cli's ``cli``), in ``cwd``."""
    script = edgepress_script()

    def run(*args: Any, cwd: Path = tmp_path, timeout: float = 900) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)

    return run


@pytest.fixture
def zoo_results() -> dict[str, dict[str, Any]]:
    return ZOO_RESULTS


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.getoption("--zoo-table") or not ZOO_RESULTS:
        return
    from tests.zoo.test_zoo import table_lines

    terminalreporter.section("model zoo")
    for line in table_lines(ZOO_RESULTS):
        terminalreporter.write_line(line)
