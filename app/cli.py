"""The `attest` command: serve, migrate, load demo data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from app import __version__, migrate
from app.catalogue import CatalogueError, cached_library
from app.checks import check_catalogues, check_database, check_writable_dir, prepare_sqlite_folder
from app.config import ConfigError, Settings, load_settings
from app.db import make_engine, session_scope
from app.services.demo import load_demo

cli = typer.Typer(
    help="Attest: supplier security assurance for UK government contracts.",
    no_args_is_help=True,
    add_completion=False,
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


def fail(message: str) -> NoReturn:
    typer.echo(f"attest: error: {message}", err=True)
    raise typer.Exit(code=2)


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        fail(str(error))


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


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version (safe to repeat)."""
    settings = settings_or_fail()
    url = settings.effective_database_url
    problem = prepare_sqlite_folder(url)
    if problem:
        fail(problem)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    except Exception as error:  # any driver error: one clear line, not a traceback
        fail(f"ATTEST_DATABASE_URL: migration failed: {str(error).splitlines()[0]}")
    typer.echo(f"database at revision {migrate.current_revision(engine)}")


@cli.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Load demo organisations, users and an engagement (safe to run twice)."""
    settings = settings_or_fail()
    engine = make_engine(settings.effective_database_url)
    problem = check_database(engine)
    if problem:
        fail(problem)
    try:
        library = cached_library(str(Path(settings.controls_dir).resolve()))
    except CatalogueError as error:
        fail(f"ATTEST_CONTROLS_DIR: {error}")
    with session_scope(engine, write=True) as session:
        result = load_demo(session, available_catalogues={c.id for c in library.catalogues})
        session.commit()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "created": result.created,
                    "engagement_id": result.engagement_id,
                    "users": [
                        dict(zip(("email", "name", "role"), u, strict=True)) for u in result.users
                    ],
                }
            )
        )
        return
    typer.echo(f"demo data ready ({result.created} records created)")
    typer.echo("demo accounts:")
    for email, name, role in result.users:
        typer.echo(f"  {email:32} {name:20} {role}")


def startup_problems(settings: Settings) -> list[str]:
    """What stops the server from starting, one line each."""
    problem = prepare_sqlite_folder(settings.effective_database_url)
    if problem:
        return [problem]
    engine = make_engine(settings.effective_database_url)
    checks = (
        check_database(engine),
        check_writable_dir(Path(settings.evidence_dir), "ATTEST_EVIDENCE_DIR"),
        check_writable_dir(Path(settings.data_dir), "ATTEST_DATA_DIR"),
        check_catalogues(Path(settings.controls_dir)),
    )
    engine.dispose()
    return [p for p in checks if p]


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve Attest over HTTP (refuses to start on bad configuration)."""
    import uvicorn

    settings = settings_or_fail()
    problems = startup_problems(settings)
    if problems:
        fail(problems[0])
    typer.echo(f"Attest {__version__} on http://{host}:{port}")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=True,
    )


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
