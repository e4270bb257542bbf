"""Alembic, driven from code: upgrade to head under a lock and tell whether a database is current.

Any number of processes may run `attest db upgrade` against one database at the same moment
(replicas starting together, or a one-off migrate job beside them). Each takes one lock before
it reads the schema's revision, so the first one migrates while the others wait; when they get
the lock in turn they find the database at head and apply nothing.

- PostgreSQL: the session-level advisory lock `pg_advisory_lock(MIGRATION_LOCK_KEY)`, taken on
  a connection of its own in autocommit mode (no transaction stays open beside the migration)
  and unlocked when the upgrade ends, whether it worked or not. The server also drops it when
  that connection closes, so a process killed mid-way leaves no lock behind. Advisory locks
  are per database: two databases on one server never wait for each other.
- SQLite: an exclusive `fcntl.flock` on the file `<database file>.migrate-lock` beside the
  database (`lock_path`). The kernel drops it when the process exits, however it exits. The
  file itself is left in place: removing it would let a late process lock a different file.
- An in-memory SQLite database belongs to one process and takes no lock.

A process that cannot get the lock within `wait_seconds` gives up with MigrationLockTimeout
and changes nothing.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The advisory lock's key: fixed, so every Attest process (and any tool that must not run
# beside a migration) names the same lock. It spells "attestdb" in ASCII.
MIGRATION_LOCK_KEY = 0x6174746573746462
LOCK_FILE_SUFFIX = ".migrate-lock"
DEFAULT_WAIT_SECONDS = 900.0
_POLL_SECONDS = 0.1
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout runs out


class MigrationLockTimeout(Exception):
    """Another process held the migration lock for longer than this one would wait."""


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What one upgrade did: the revision before and after, and the revisions it applied."""

    before: str | None
    after: str | None
    applied: tuple[str, ...]  # oldest first; empty when the database was already current
    waited: bool  # another process held the lock when this one asked for it


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration under the migration lock; running it again does nothing."""
    upgrade_under_lock(engine)


def upgrade_under_lock(
    engine: Engine,
    *,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    on_wait: Callable[[], None] | None = None,
) -> Upgrade:
    """Take the migration lock (waiting up to `wait_seconds`; `on_wait` is called once if
    another process holds it), upgrade to head, release the lock and say what was applied."""
    with migration_lock(engine, wait_seconds=wait_seconds, on_wait=on_wait) as waited:
        before = current_revision(engine)
        command.upgrade(alembic_config(engine), "head")
        after = current_revision(engine)
    return Upgrade(before, after, revisions_between(before, after), waited)


@contextmanager
def migration_lock(
    engine: Engine,
    *,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[bool]:
    """Hold the database's migration lock for the block; yields whether it had to wait."""
    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, wait_seconds, on_wait) as waited:
            yield waited
        return
    path = lock_path(engine)
    if path is None:
        yield False
        return
    with _file_lock(path, wait_seconds, on_wait) as waited:
        yield waited


def lock_path(engine: Engine) -> Path | None:
    """The lock file beside a SQLite database file (None for in-memory and other databases)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename: the path ends at the query string
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database + LOCK_FILE_SUFFIX)


@contextmanager
def _postgres_lock(engine: Engine, wait_seconds: float, on_wait: Callable[[], None] | None) -> Iterator[bool]:
    key = {"key": MIGRATION_LOCK_KEY}
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        waited = not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar()
        if waited:
            if on_wait is not None:
                on_wait()
            milliseconds = max(1, int(wait_seconds * 1000))
            connection.execute(
                text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": f"{milliseconds}"}
            )
            try:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                    raise MigrationLockTimeout(_timeout_message(wait_seconds)) from None
                raise
            finally:
                connection.execute(text("RESET lock_timeout"))
        try:
            yield waited
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)


@contextmanager
def _file_lock(path: Path, wait_seconds: float, on_wait: Callable[[], None] | None) -> Iterator[bool]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        waited = False
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if time.monotonic() >= deadline:
                    raise MigrationLockTimeout(_timeout_message(wait_seconds)) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield waited
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _timeout_message(wait_seconds: float) -> str:
    return (
        f"another process has held the migration lock for over {wait_seconds:g} s; "
        "nothing was changed (wait for it to finish, then run `attest db upgrade` again)"
    )


def revisions_between(before: str | None, after: str | None) -> tuple[str, ...]:
    """The revisions an upgrade from `before` to `after` applied, oldest first."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    applied: list[str] = []
    revision = after
    while revision is not None and revision != before:
        applied.append(revision)
        found = script.get_revision(revision)
        down = found.down_revision if found is not None else None
        revision = down if isinstance(down, str) or down is None else None
    return tuple(reversed(applied))


def migration_title(revision: str) -> str:
    """The first line of a migration's docstring, e.g. 'organisations, users and engagements'."""
    found = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision)
    return (found.doc or "").strip().splitlines()[0] if found is not None and found.doc else ""


def head_revision() -> str | None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
