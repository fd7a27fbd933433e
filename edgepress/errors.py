"""Typed errors. Each says what was expected, what was found and what to do.

The CLI prints the message alone (no traceback) and exits with ``exit_code``:
2 for bad input the user can fix, 1 for a job that failed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EdgepressError(Exception):
    """Base class of every error edgepress raises on purpose."""

    exit_code = 1


class BadInputError(EdgepressError):
    """The user gave something edgepress cannot use (file, data, option)."""

    exit_code = 2


class ModelLoadError(BadInputError):
    """A model file is missing, corrupt, or not the format its name claims."""


class DataError(BadInputError):
    """Input or label data does not fit the model."""


class UnknownNameError(BadInputError):
    """A pass, format or target name is not registered."""


class FormatChainError(BadInputError):
    """A recipe's passes do not accept the format the previous pass produces."""


class TargetUnavailableError(BadInputError):
    """A target cannot run on this machine; the message carries the reason."""


class ConversionError(EdgepressError):
    """A converter ran and failed."""


class RuntimeFailure(EdgepressError):
    """A runtime failed to load or execute an artifact."""


class PassFailedError(EdgepressError):
    """A pass in a recipe failed; the message names it and the passes before it."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UnknownNameError:
    """Build an UnknownNameError with a did-you-mean suggestion.

    Example:
        >>> str(unknown_name("format", "onx", ["onnx", "tflite"]))
        "unknown format 'onx'; did you mean 'onnx'? (known: onnx, tflite)"
    """
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters): what a one-line error quotes."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
