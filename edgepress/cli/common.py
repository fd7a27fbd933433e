"""What every command shares: the consoles, error handling and option parsing."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from edgepress.errors import BadInputError, EdgepressError

F = TypeVar("F", bound=Callable[..., Any])

# Piped output gets a wide fixed width so result tables are not squeezed to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 220)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 220)


def cli_errors(func: F) -> F:
    """Print an EdgepressError as one line on stderr and exit with its code (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EdgepressError as exc:
            # The message may hold brackets ("[model]"): escape it so rich prints it as written.
            err_console.print(f"[bold red]error:[/] {escape(_one_line(str(exc)))}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; finished artifacts are kept, nothing half-written remains")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def step(message: str, quiet: bool) -> Iterator[None]:
    """A spinner for a long step (stderr; silent with --quiet or when not a terminal)."""
    status = err_console.status(message) if not quiet and sys.stderr.isatty() else nullcontext()
    with status:
        yield
    if not quiet and not sys.stderr.isatty():
        err_console.print(f"done: {message}", highlight=False)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """'1x3x224x224' -> (1, 3, 224, 224)."""
    if text is None:
        return None
    try:
        dims = tuple(int(part) for part in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise BadInputError(f"--input-shape must look like 1x3x224x224, got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise BadInputError(f"--input-shape dimensions must be positive, got {text!r}")
    return dims


def split_list(text: str) -> list[str]:
    """'onnx, tflite' -> ['onnx', 'tflite']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _one_line(text: str) -> str:
    return " ".join(text.split())
