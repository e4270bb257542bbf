"""Database engines and sessions.

SQLite runs in WAL mode with foreign keys on and a busy timeout. pysqlite's own
transaction handling is switched off so that we issue BEGIN ourselves: write
sessions use BEGIN IMMEDIATE, which takes the write lock up front (a deferred
transaction that reads and then writes fails under concurrency). PostgreSQL uses
psycopg 3 with pool_pre_ping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

SQLITE_BEGIN_OPTION = "sqlite_begin"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url` with the pragmas and pool settings Attest relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def write_engine(engine: Engine) -> Engine:
    """The same engine, but its transactions start with BEGIN IMMEDIATE on SQLite."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session for a unit of work; the caller commits, anything else rolls back."""
    bind = write_engine(engine) if write else engine
    with Session(bind, expire_on_commit=False) as session:
        yield session
