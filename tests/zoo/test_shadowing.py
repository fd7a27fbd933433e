"""A module in the working directory that shadows the standard library must never run.

Users run edgepress from folders holding their own scripts; a ``concurrent.py`` or
``json.py`` there is theirs, not edgepress's. The CLI and every child interpreter it
starts (conversion and measurement workers) must import the standard library, so the
payload below never writes its marker file and both commands still succeed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PAYLOAD = 'open("PWNED", "w").write("imported from the working directory")\n'
SHADOWS = ("concurrent.py", "json.py")


@pytest.fixture
def shadowed(tmp_path: Path) -> Path:
    """A working directory holding the shadowing modules and a tiny Linear(4, 2) model."""
    import torch

    cwd = tmp_path / "work"
    (cwd / "o").mkdir(parents=True)
    for name in SHADOWS:
        (cwd / name).write_text(PAYLOAD)
    torch.manual_seed(0)
    model, example = torch.nn.Linear(4, 2).eval(), torch.randn(1, 4)
    torch.export.save(torch.export.export(model, (example,)), str(cwd / "m.pt2"))
    # bench's input is made without edgepress, so its test does not depend on convert's.
    torch.onnx.export(model, (example,), str(cwd / "o" / "ref.onnx"), dynamo=False)
    return cwd


@pytest.mark.slow
def test_convert_ignores_shadowing_modules(shadowed: Path, edgepress: Any) -> None:
    converted = edgepress("convert", "m.pt2", "--to", "onnx", "--out", "o", "-q", cwd=shadowed)
    assert not (shadowed / "PWNED").exists(), "convert imported a module from the working directory"
    assert converted.returncode == 0, converted.stderr[-2000:]
    assert (shadowed / "o" / "m.onnx").is_file()


def test_bench_ignores_shadowing_modules(shadowed: Path, edgepress: Any) -> None:
    benched = edgepress("bench", "o/ref.onnx", "--iters", "2", "--min-seconds", "0", "--warmup", "1", "-q", cwd=shadowed)
    assert not (shadowed / "PWNED").exists(), "bench imported a module from the working directory"
    assert benched.returncode == 0, benched.stderr[-2000:]
