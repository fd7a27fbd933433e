"""``edgepress cache info`` (where the cache is, what it holds) and ``edgepress cache clear [PART...]``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from edgepress.cli.common import cli_errors, console

app = typer.Typer(no_args_is_help=True, help="The edgepress cache: where it is, what it holds, and clearing it.")


@app.command("info")
@cli_errors
def info() -> None:
    """Where the cache is ($EDGEPRESS_CACHE, else ~/.cache/edgepress), its size, and each part's size and entry count."""
    from rich.table import Table

    from edgepress import cachedir

    parts = cachedir.usage()
    total = sum(u.bytes for u in parts)
    console.print(f"cache: {cachedir.root()}  ({_size(total)}, {sum(u.entries for u in parts)} entries)", highlight=False, soft_wrap=True)
    if not parts:
        return
    table = Table()
    for column in ("part", "size", "entries", "bound", "holds"):
        table.add_column(column, justify="right" if column in ("size", "entries", "bound") else "left")
    for u in parts:
        bound = cachedir.BOUNDS.get(u.name)
        table.add_row(u.name, _size(u.bytes), str(u.entries), _size(bound) if bound else "-", u.about)
    console.print(table)


@app.command("clear")
@cli_errors
def clear(
    parts: Annotated[Optional[list[str]], typer.Argument(help="Parts to remove (calibration, sources, demo, data, arm64, logs); default: all of them.")] = None,
) -> None:
    """Remove cached files; everything is rebuilt when next needed (arm64 sysroots take minutes)."""
    from edgepress import cachedir

    gone = cachedir.clear(parts)
    for u in gone:
        console.print(f"removed {u.name}: {_size(u.bytes)} ({u.path})", highlight=False, soft_wrap=True)
    freed = sum(u.bytes for u in gone)
    console.print(f"freed {_size(freed)} in {cachedir.root()}" if gone else f"nothing to remove in {cachedir.root()}", highlight=False, soft_wrap=True)


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
