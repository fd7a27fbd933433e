"""What every command shares: the consoles, error handling and option parsing."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from edgepress.errors import BadInputError, EdgepressError

F = TypeVar("F", bound=Callable[..., Any])

VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Also show the frameworks' own output (TensorFlow, torch, runtimes). It is always kept in "
        "OUT/.edgepress/logs/COMMAND.log, else (no output folder, bad input) in logs/ of the edgepress "
        "cache ($EDGEPRESS_CACHE or ~/.cache/edgepress).",
    ),
]
WideOption = Annotated[
    bool,
    typer.Option("--wide", help="Every column in the results table (by default it fits 120 columns; the results JSON and the reports hold every value)."),
]



class LazyConsole:
    """A rich Console made on first use: ``edgepress --help`` never imports rich (a third of its start-up)."""

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_console", None)

    def _made(self) -> Any:
        if self._console is None:
            from rich.console import Console

            object.__setattr__(self, "_console", Console(**self._options))
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._made(), name, value)

    # Special methods are looked up on the type, not through __getattr__ (rich's Live uses these).
    def __enter__(self) -> Any:
        return self._made().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._made().__exit__(*exc_info)


# Piped output gets a wide fixed width so result tables are not squeezed to 80 columns.
console = LazyConsole(width=None if sys.stdout.isatty() else 220)
err_console = LazyConsole(stderr=True, width=None if sys.stderr.isatty() else 220)


def escape(text: str) -> str:
    """``rich.markup.escape``: brackets in ``text`` print as written, not as markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def cli_errors(func: F) -> F:
    """Run a command with the frameworks' output in a log; an error is one line on stderr.

    An EdgepressError exits with its code (2 bad input, 1 failed job); anything else is a
    bug: its traceback goes to the log and the user gets one line saying where.
    """
    name = _command_name(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from edgepress import quiet

        verbose = bool(kwargs.get("verbose"))
        if not verbose:
            quiet.quiet_environment()  # before any framework is imported, here and in child processes
        log = _new_log(name)
        _output[:] = [_output_folder(kwargs)]
        code = 1
        try:
            with quiet.captured(log, echo=verbose), _to_user(err_console):
                result = _run(func, lambda: _log_destination(log, name, _output[0], 1), *args, **kwargs)
            code = 0
            return result
        except typer.Exit as exc:
            code = exc.exit_code
            raise
        finally:
            _keep_log(log, _log_destination(log, name, _output[0], code))

    return wrapper  # type: ignore[return-value]


def _run(func: Callable[..., Any], failed_log: Callable[[], Path], *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except EdgepressError as exc:
        # The message may hold brackets ("[model]"): escape it so rich prints it as written.
        err_console.print(f"[bold red]error:[/] {escape(_one_line(str(exc)))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted; finished artifacts are kept, nothing half-written remains")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:  # a bug: the traceback is for the log, the user gets one line
        import traceback

        traceback.print_exc()
        message = f"edgepress failed unexpectedly ({type(exc).__name__}: {_one_line(str(exc))[:200]}); please report it with the log {failed_log()}"
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@contextmanager
def _to_user(console_: LazyConsole) -> Iterator[None]:
    """Point a console at the user's terminal while fd 2 goes to the log."""
    from edgepress import quiet

    console_.file = quiet.user_stderr()
    try:
        yield
    finally:
        console_.file = None  # type: ignore[assignment]  # back to sys.stderr


def _command_name(func: Callable[..., Any]) -> str:
    """'convert' for edgepress.cli.convert.command, 'passes' for passes_command."""
    if func.__name__ == "command":
        return func.__module__.rsplit(".", 1)[-1]
    return func.__name__.removesuffix("_command")


# The running command's output folder, where its log is kept (a one-item list: set per command).
_output: list[Path | None] = [None]


def log_into(folder: Path) -> None:
    """Keep this command's log in ``folder``/.edgepress/logs (for an output folder no option names)."""
    _output[0] = Path(folder)


def _output_folder(kwargs: dict[str, Any]) -> Path | None:
    """The command's output folder: --out, or the folder of a --json file."""
    if kwargs.get("out") is not None:
        return Path(kwargs["out"])
    json_out = kwargs.get("json_out")
    if json_out and json_out != "-":
        return Path(json_out).parent
    return None


def _log_home() -> Path:
    from edgepress.cachedir import part

    return part("logs")


def _new_log(name: str) -> Path:
    """A private log file for this run (parallel runs must not mix), moved into place at the end."""
    import tempfile

    try:
        home = _log_home()
        home.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable cache folder must not stop the command
        home = Path(tempfile.gettempdir()) / "edgepress-logs"
        home.mkdir(exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f".{name}-", suffix=".log", dir=home)
    os.close(fd)
    return Path(path)


def _log_destination(log: Path, name: str, out: Path | None, code: int) -> Path:
    """OUT/.edgepress/logs/NAME.log after a job (ok or failed), the cache's logs/NAME.log otherwise.

    Bad input (exit 2) writes nothing under OUT, so its log stays in the cache.
    """
    if out is not None and code != 2 and out.is_dir():
        return out / ".edgepress" / "logs" / f"{name}.log"
    return log.parent / f"{name}.log"


def _keep_log(log: Path, dest: Path) -> None:
    import shutil

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(log, dest)
    except OSError:  # an output folder we cannot write in: the log stays in the cache
        os.replace(log, log.parent / dest.name)


def print_results(results: Any, wide: bool) -> None:
    """The results table on stdout: every column with ``wide``, else within TABLE_WIDTH columns."""
    from edgepress.report.table import TABLE_WIDTH, results_table

    console.print(results_table(results, wide=wide), width=None if wide else min(console.width, TABLE_WIDTH))


@contextmanager
def step(message: str, quiet: bool) -> Iterator[None]:
    """A spinner for a long step (stderr; silent with --quiet or when not a terminal)."""
    terminal = err_console.is_terminal  # not sys.stderr: that is the log while a command runs
    status = err_console.status(message) if not quiet and terminal else nullcontext()
    with status:
        yield
    if not quiet and not terminal:
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
