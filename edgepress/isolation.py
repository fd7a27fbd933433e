"""Run a pass in a child process with a timeout, so a converter crash or hang costs one
artifact, not the whole run.

The child gets the pass by name and options and the source as a file; it writes the
made artifact's facts (or its error) as JSON. A child killed by a signal or stopped at
the timeout becomes a ConversionError that says so. What the child prints
(converter logs) is recorded with ``quiet.log_child_output``: the CLI's log, not the terminal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from edgepress.artifact import Artifact
from edgepress.errors import BadInputError, ConversionError, EdgepressError
from edgepress.passes import Pass, options_of
from edgepress.quiet import log_child_output
from edgepress.targets.launch import describe_exit

# -P: the working directory is not put on the child's sys.path, so a module there named
# like one the converters import (concurrent.py, typing.py, ...) is never run. Not -I: that
# also drops PYTHONPATH and the user site-packages, which is where a user's edgepress, its
# frameworks or EDGEPRESS_PLUGINS modules may be installed; the child must see what we see.
SAFE_PATH = "-P"

DEFAULT_TIMEOUT_S = 1800.0


def run_isolated(p: Pass, source: Artifact, out_dir: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> Artifact:
    """``passes.apply(p, source, out_dir)`` in a child process; the source must be a file."""
    if source.path is None:
        raise ValueError("run_isolated needs a file source; save in-memory models first")
    with tempfile.TemporaryDirectory(prefix="edgepress-pass-") as tmp:
        request = Path(tmp) / "request.json"
        result = Path(tmp) / "result.json"
        request.write_text(json.dumps({"pass": p.name, "options": options_of(p), "source": source.to_dict(), "out_dir": str(out_dir), "result": str(result)}))
        _spawn(p.name, [sys.executable, SAFE_PATH, "-m", "edgepress.isolation", str(request)], timeout_s)
        answer = json.loads(result.read_text())
    if answer.get("error"):
        error_type = BadInputError if answer.get("bad_input") else ConversionError
        raise error_type(answer["error"])
    return Artifact.from_dict(answer["artifact"])


def _spawn(name: str, argv: list[str], timeout_s: float) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        log_child_output(f"pass {name!r} (stopped at the timeout)", exc.stderr, exc.stdout)
        raise ConversionError(f"pass {name!r} did not finish within {timeout_s:.0f} s and was stopped") from None
    log_child_output(f"pass {name!r}", proc.stderr, proc.stdout)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        detail = describe_exit(proc.returncode).replace("the runtime", "the converter")
        raise ConversionError(f"pass {name!r} failed: {detail}; last output: {last[-1][-300:] if last else '(none)'}")


def _child(request_path: str) -> int:
    from edgepress.passes import apply, create

    request = json.loads(Path(request_path).read_text())
    try:
        made = apply(create(request["pass"], request["options"]), Artifact.from_dict(request["source"]), Path(request["out_dir"]))
        answer: dict[str, object] = {"artifact": made.to_dict()}
    except EdgepressError as exc:
        answer = {"error": str(exc), "bad_input": isinstance(exc, BadInputError)}
    Path(request["result"]).write_text(json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
