"""``python -m edgepress`` runs the CLI."""

from edgepress.usercode import drop_start_folder

drop_start_folder()  # as with the `edgepress` script: only modules the user names come from there

from edgepress.cli.main import run  # noqa: E402  after sys.path is settled

run()
