"""`attest db upgrade`: create or migrate the schema, one process at a time (app.migrate's lock)."""

from __future__ import annotations

from typing import Annotated

import typer

from app import migrate
from app.cli.common import fail, settings_or_fail
from app.db import make_engine
from app.services.health import prepare_sqlite_folder

db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)


def _say_waiting() -> None:
    typer.echo("waiting for the migration lock: another process is migrating this database", err=True)


@db_cli.command("upgrade")
def db_upgrade(
    lock_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait for another process's migration to finish before giving up.",
        ),
    ] = migrate.DEFAULT_WAIT_SECONDS,
) -> None:
    """Create or migrate the database schema to the latest version (safe to repeat, and safe to
    run from several processes at once: one migrates, the others wait for it).

    Prints the revision on standard output; each migration applied, and any wait for the lock,
    on standard error."""
    settings = settings_or_fail()
    url = settings.effective_database_url
    problem = prepare_sqlite_folder(url)
    if problem:
        fail(problem)
    engine = make_engine(url)
    try:
        result = migrate.upgrade_under_lock(engine, wait_seconds=lock_timeout, on_wait=_say_waiting)
    except migrate.MigrationLockTimeout as error:
        fail(f"ATTEST_DATABASE_URL: {error}")
    except Exception as error:  # any driver error: one clear line, not a traceback
        fail(f"ATTEST_DATABASE_URL: migration failed: {str(error).splitlines()[0]}")
    finally:
        engine.dispose()
    for revision in result.applied:
        typer.echo(f"applied migration {revision}: {migrate.migration_title(revision)}", err=True)
    if result.waited and not result.applied:
        typer.echo("waited for the lock; nothing left to apply: the database is current", err=True)
    typer.echo(f"database at revision {result.after}")
