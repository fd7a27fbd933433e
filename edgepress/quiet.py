"""Keep the frameworks' own output (TensorFlow/absl C++ logs, torch and torchao warnings,
LiteRT's delegate notices, child processes' stderr) out of the user's terminal, in a log file.

Native libraries write straight to file descriptor 2, so no Python-level filter can stop
them. While ``captured`` is active, fd 2 (and so ``sys.stderr``, Python warnings and
logging, and every child process that inherits it) points at the log; only
``user_stderr()`` still reaches the terminal.

Example:
    >>> quiet_environment()
    >>> with captured(Path("out/.edgepress/logs/convert.log")):
    ...     import tensorflow  # its start-up lines land in the log
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# Read by the frameworks when they are first imported, so they are set before any of them is.
# TF_ENABLE_ONEDNN_OPTS is left alone on purpose: it changes TensorFlow's numerics, not only
# its logging (its one start-up line goes to the log instead). CUDA_VISIBLE_DEVICES is left
# alone too: hiding GPUs would break the `gpu` target, and level 3 already drops TensorFlow's
# cuInit error on machines without one.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow C++: no INFO/WARNING/ERROR lines (cpu_feature_guard, cuInit)
    "GLOG_minloglevel": "3",  # glog users (XLA, some runtimes)
    "TORCH_CPP_LOG_LEVEL": "ERROR",  # c10 warnings printed by torch's C++ side
}

CHILD_LOGGER = "edgepress.child"
LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"

_user_stream: TextIO | None = None


def quiet_environment() -> None:
    """Set ``QUIET_ENV`` in this process (inherited by its children); a user's own value wins."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)


def user_stderr() -> TextIO:
    """The stream that reaches the user's terminal (``sys.stderr`` when nothing is captured)."""
    return _user_stream or sys.stderr


def capturing() -> bool:
    """True while ``captured`` is active in this process."""
    return _user_stream is not None


def keep_child_output_in_stderr() -> None:
    """For a pool worker of a capturing CLI: child output records to this process's stderr.

    The worker inherited the CLI's fd 2, the log, so the records land there too.
    """
    logger = logging.getLogger("edgepress")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def log_child_output(what: str, stderr: str | bytes | None, stdout: str | bytes | None = None) -> None:
    """Record what a child process printed (the log when captured, nowhere by default)."""
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        if text and text.strip():
            logging.getLogger(CHILD_LOGGER).info("%s wrote on %s:\n%s", what, stream, text.rstrip())


@contextmanager
def captured(log: Path, echo: bool = False) -> Iterator[Path]:
    """Send fd 2 to ``log`` (appended) while inside; with ``echo`` the terminal gets a copy.

    Python warnings and the ``edgepress`` loggers (child output) land there too. The log's
    folder is created; the log itself is left in place for the caller to keep or move.
    """
    global _user_stream
    log.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stderr.flush()
    saved = os.dup(2)
    # A sys.stderr that is not fd 2 (a test runner's capture) stays the user's stream.
    own = _fd_of(sys.stderr) == 2
    previous, _user_stream = _user_stream, os.fdopen(os.dup(saved), "w", buffering=1, errors="replace") if own else sys.stderr
    pump = _Tee(log_fd, saved) if echo else None
    os.dup2(pump.write_fd if pump else log_fd, 2)
    handler = _records_to_fd2()
    try:
        yield log
    finally:
        _restore(handler)
        sys.stderr.flush()
        os.dup2(saved, 2)
        if pump:
            pump.close()
        if own:
            _user_stream.close()
        _user_stream = previous
        for fd in (saved, log_fd):
            os.close(fd)


def _fd_of(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


def _records_to_fd2() -> logging.StreamHandler:
    """edgepress's own records (child output) to fd 2, which is now the log.

    Python warnings need nothing: they are written to ``sys.stderr``, fd 2, already.
    """
    handler = logging.StreamHandler(os.fdopen(os.dup(2), "w", buffering=1, errors="replace"))
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("edgepress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a framework's root handler (absl installs one) would print it twice
    return handler


def _restore(handler: logging.StreamHandler) -> None:
    logger = logging.getLogger("edgepress")
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    handler.stream.close()


class _Tee:
    """A pipe whose reader copies everything to the log and to the terminal (for --verbose)."""

    def __init__(self, log_fd: int, terminal_fd: int) -> None:
        self._read_fd, self.write_fd = os.pipe()
        self._targets = (log_fd, terminal_fd)
        self._thread = threading.Thread(target=self._copy, name="edgepress-tee", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        while chunk := os.read(self._read_fd, 65536):
            for fd in self._targets:
                os.write(fd, chunk)

    def close(self) -> None:
        os.close(self.write_fd)
        # A child still holding the pipe (a lingering worker) must not hang the CLI.
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            os.close(self._read_fd)
