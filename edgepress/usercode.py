"""Import the user's own code by name: ``--factory``, recipe factories, ``EDGEPRESS_PLUGINS``.

edgepress never imports from the working directory by chance: the ``edgepress`` script does
not put it on ``sys.path``, ``python -m edgepress`` takes it off, and every child interpreter
starts with ``-P``. A module the user names is the one exception: it is also looked up in
the folder the command was started in, as ``python -c "import mypkg"`` run there would.

Example:
    >>> make_net = getattr(import_named("mypkg.models"), "make_net")  # mypkg/ in the working directory
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


def import_named(module: str) -> ModuleType:
    """``importlib.import_module(module)``, with the working directory searched first meanwhile."""
    with start_folder_importable():
        return importlib.import_module(module)


@contextmanager
def start_folder_importable() -> Iterator[None]:
    """The working directory first on ``sys.path`` while inside, and only then.

    Left there, it would let any later import (a framework probing for an optional
    module) pick up a stray file from that folder.
    """
    folder = os.getcwd()
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def drop_start_folder() -> None:
    """Take the working directory off ``sys.path`` where ``python -m`` put it first."""
    if not sys.flags.safe_path and sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
