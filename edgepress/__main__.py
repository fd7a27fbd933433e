"""``python -m edgepress`` runs the CLI."""

from edgepress.cli.main import run

run()
