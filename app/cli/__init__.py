"""The `attest` command line: one module per command group, put together here.

`serve` (serve.py), `db upgrade` (db.py), `demo` and `demo-code` (demo.py), `orgs`, `users` and
`tokens` (users.py), `verify-evidence` (evidence.py), `audit` (audit.py), `keys` (keys.py),
`remind` (remind.py), `worker` (worker.py), `local` (local.py), `backup` and `restore`
(backup.py); what they share is in common.py. No module imports this package back, so there
is no cycle.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app import __version__
from app.cli import audit, backup, db, demo, evidence, keys, local, remind, serve, users, worker

cli = typer.Typer(
    help="Attest: supplier security assurance for UK government contracts.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attest {__version__}")
        raise typer.Exit()


@cli.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Attest command line."""


cli.command()(demo.demo)
cli.command("demo-code")(demo.demo_code)
cli.command("verify-evidence")(evidence.verify_evidence)
cli.command()(serve.serve)
cli.command()(remind.remind)
cli.command()(worker.worker)
cli.command()(local.local)
cli.command()(backup.backup)
cli.command()(backup.restore)
cli.add_typer(db.db_cli, name="db")
cli.add_typer(users.orgs_cli, name="orgs")
cli.add_typer(users.users_cli, name="users")
cli.add_typer(users.tokens_cli, name="tokens")
cli.add_typer(audit.audit_cli, name="audit")
cli.add_typer(keys.keys_cli, name="keys")


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["cli", "main"]
