"""What every `attest` command shares: settings or one clear error line, a unit of work, output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from sqlmodel import Session

from app.adapters.crypto import Keys
from app.config import ConfigError, Settings, load_settings
from app.db import make_engine, session_scope
from app.domain.access import Actor, Role
from app.domain.errors import AttestError
from app.services.audit import Who
from app.services.caller import Caller
from app.services.health import check_database

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
CLI_WHO = Who(address="cli", request_id="cli")
# Whoever runs the command line can already read the database and the keys: an operator with
# an administrator's rights, audited with no user (address and request id "cli").
OPERATOR = Actor(user_id="", org_id="", role=Role.ADMINISTRATOR)


def operator(keys: Keys) -> Caller:
    """The caller the command line's use cases act for."""
    return Caller(OPERATOR, CLI_WHO, keys.audit)


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(payload) if as_json else text)


@contextmanager
def unit_of_work(write: bool = True, keys: Keys | None = None) -> Iterator[tuple[Session, Settings, Keys]]:
    """A migrated database session and the keys; domain errors become one clear line."""
    settings = settings_or_fail()
    engine = make_engine(settings.effective_database_url)
    problem = check_database(engine)
    if problem:
        fail(problem)
    keys = keys or Keys.from_settings(settings)
    try:
        with session_scope(engine, write=write) as session:
            yield session, settings, keys
    except AttestError as error:
        fail(error.message)
    finally:
        engine.dispose()


def fail(message: str) -> NoReturn:
    typer.echo(f"attest: error: {message}", err=True)
    raise typer.Exit(code=2)


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        fail(str(error))
