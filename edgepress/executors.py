"""Where sweep cells run: a local process pool (default) or a Ray cluster.

An executor maps a function over plain-data jobs and yields ``(index, outcome)`` as each
finishes, in completion order, so the caller can store every finished cell at once. An
outcome is the function's return value, or the exception that kept it from returning (a
worker that crashed); the caller records it and goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from edgepress.errors import BadInputError

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs jobs and yields (index, result or exception) as they finish."""

    name: str

    def map_unordered(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class LocalPool:
    """A process pool bounded by the CPU cores (or ``jobs``); workers are spawned, not forked.

    Spawned workers start clean, which matters because the parent may hold threads of
    torch or ONNX Runtime that a fork would copy in an inconsistent state. They start
    with ``PYTHONSAFEPATH`` (``-P``): multiprocessing launches them with ``python -c``,
    which would put the working directory first on sys.path while they import pickle,
    socket and threading, so a ``pickle.py`` there would run.
    """

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self._pool: Any = None

    def map_unordered(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        if not jobs:
            return
        from edgepress import quiet

        # Under the CLI the workers' converter and runtime output joins its log, as in one process.
        keep = quiet.keep_child_output_in_stderr if quiet.capturing() else None
        with _safe_path_children():  # the pool's resource tracker and workers start here
            self._pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(jobs)), mp_context=multiprocessing.get_context("spawn"), initializer=keep)
            futures = {self._pool.submit(fn, job): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            exc = future.exception()
            yield futures[future], exc if exc is not None else future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _safe_path_children() -> Iterator[None]:
    """Python children started meanwhile keep the working directory off sys.path."""
    before = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONSAFEPATH", None)
        else:
            os.environ["PYTHONSAFEPATH"] = before


class RayExecutor:
    """Cells as Ray tasks (one CPU each) on a cluster; Ray does the scheduling.

    ``address`` is passed to ``ray.init``: None starts a local Ray instance, ``"auto"``
    joins the cluster this machine is part of, ``ray://host:10001`` a remote one. Workers
    on other machines need edgepress installed, and the sweep's output folder on a
    shared filesystem if the artifacts are to be kept.
    """

    name = "ray"

    def __init__(self, address: str | None = None, jobs: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise BadInputError("--executor ray needs Ray: pip install 'edgepress[distributed]'") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            ray.init(address=address, num_cpus=jobs if address is None else None, include_dashboard=False, log_to_driver=False)

    def map_unordered(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        pending = {remote.remote(job): index for index, job in enumerate(jobs)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    yield index, ray.get(ref)
                except Exception as exc:  # a task whose worker died: the caller records it
                    yield index, exc

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def make_executor(name: str = "local", jobs: int | None = None, address: str | None = None) -> Executor:
    """The executor called ``name``: ``local`` (process pool) or ``ray``.

    Example:
        >>> make_executor("local", jobs=2).jobs
        2
    """
    if name == "local":
        if address:
            raise BadInputError("--address is for --executor ray; the local executor runs on this machine")
        return LocalPool(jobs)
    if name == "ray":
        return RayExecutor(address, jobs)
    raise BadInputError(f"unknown executor {name!r} (executors: {', '.join(EXECUTORS)})")
