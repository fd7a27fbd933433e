import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    """Run ``edgepress ARGS`` in a real subprocess; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env_path = str(ROOT)
        return subprocess.run(
            [sys.executable, "-m", "edgepress", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env={**__import__("os").environ, "PYTHONPATH": env_path},
        )

    return run
