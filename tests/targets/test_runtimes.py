"""One format -> runtime table (``targets/runtimes.py``); the stdlib-only worker and the board
agent, which run where edgepress is not installed, keep their own lists and must agree with it."""

from __future__ import annotations

from edgepress.artifact import Format
from edgepress.targets import measure_worker, remote_agent
from edgepress.targets.runtimes import RUNTIMES, missing_runtime_reason


def _top_level(choices: str) -> set[str]:
    return {name.split(".")[0] for name in choices.split("|")}


def test_the_worker_imports_the_runtime_the_table_names_for_every_format() -> None:
    assert set(measure_worker.RUNTIME_IMPORTS) == {fmt.value for fmt in RUNTIMES}
    for fmt, runtime in RUNTIMES.items():
        assert _top_level(measure_worker.RUNTIME_IMPORTS[fmt.value][-1]) == set(runtime.choices), fmt


def test_the_board_agent_probes_every_runtime_module_in_the_table() -> None:
    wanted = {module for runtime in RUNTIMES.values() for module in runtime.choices}
    assert wanted <= set(remote_agent.PROBED) and "numpy" in remote_agent.PROBED


def test_formats_without_a_runtime_are_refused_with_a_reason() -> None:
    for fmt in set(Format) - set(RUNTIMES):
        assert "convert them first" in missing_runtime_reason(fmt)
    assert missing_runtime_reason(Format.ONNX) is None  # onnxruntime is a core dependency
