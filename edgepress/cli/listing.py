"""``edgepress passes`` and ``edgepress targets``: what is registered, and what runs here."""

from __future__ import annotations

import typer

from edgepress.cli.common import cli_errors, console


@cli_errors
def passes_command(
    matrix: bool = typer.Option(False, "--matrix", help="Print the source x format conversion matrix (Markdown)."),
) -> None:
    """List every registered pass: name, formats it takes and makes, summary."""
    from rich.table import Table

    from edgepress.passes import registry

    if matrix:
        from edgepress.conversion import conversion_matrix

        print(conversion_matrix())
        return

    table = Table(title="passes")
    for column in ("name", "takes", "makes", "summary"):
        table.add_column(column)
    for name, cls in registry().items():
        p = cls()
        takes = sorted(p.accepts, key=lambda f: f.value)
        makes = sorted({p.output_format(f).value for f in takes})
        table.add_row(name, ", ".join(f.value for f in takes), ", ".join(makes), cls.summary)
    console.print(table)


@cli_errors
def targets_command() -> None:
    """List every target kind and whether it can run here (and if not, why)."""
    from rich.table import Table

    from edgepress.targets.base import known_targets

    table = Table(title="targets")
    table.add_column("target")
    table.add_column("status")
    for target in known_targets():
        reason = target.unavailable_reason()
        table.add_row(target.name, "[green]available[/]" if reason is None else f"[yellow]unavailable:[/] {reason}")
    console.print(table)


def register(app: typer.Typer) -> None:
    from edgepress.cli import targets

    app.command("passes")(passes_command)
    app.add_typer(targets.app, name="targets")  # 'edgepress targets' lists; 'targets setup' prepares
