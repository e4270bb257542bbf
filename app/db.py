"""Database engines and sessions.

SQLite runs in WAL mode with foreign keys on and a busy timeout. pysqlite's own
transaction handling is switched off so that we issue BEGIN ourselves: write
sessions use BEGIN IMMEDIATE, which takes the write lock up front (a deferred
transaction that reads and then writes fails under concurrency). PostgreSQL uses
psycopg 3 with pool_pre_ping.

Every engine refuses control characters in any text parameter before the driver sees
it (`refuse_control_characters`), so a NUL is an InvalidInput (422) on both databases
instead of a 500 on PostgreSQL and a stored value on SQLite; see app/domain/text.py.

On SQLite the writers of one process also queue on one lock per engine (`_WriteGate`) before
BEGIN IMMEDIATE: SQLite's own busy handler polls with growing sleeps and favours no one, so under
steady writing a waiter could lose the race again and again for seconds; the gate hands the
write lock over in turn, and SQLite's busy timeout is left to arbitrate between processes.

Read-only sessions (`session_scope(..., read_only=True)`, every GET request's) refuse
INSERT, UPDATE and DELETE on both databases: a read that then writes is exactly the
deferred transaction that fails, so whatever a read must record goes into a short write
transaction of its own (`app.http.deps.writer`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from app.domain.errors import InvalidInput
from app.domain.text import refusal_message, refused_in

SQLITE_BEGIN_OPTION = "sqlite_begin"
BUSY_SECONDS = 30.0
_PG_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out
READ_ONLY_OPTION = "attest_read_only"
WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
WRITES = "attest_writes"  # Session.info key: the session's transactions take the write lock


class WriteInReadOnlySession(RuntimeError):
    """A read-only session was asked to write (a programming error, never a user's)."""


def make_engine(url: str, *, echo: bool = False, busy_seconds: float = BUSY_SECONDS) -> Engine:
    """An engine for `url` with the pragmas and pool settings Attest relies on. A write waits
    `busy_seconds` at most for another's lock (SQLite's busy timeout, PostgreSQL's
    lock_timeout), then fails with `is_busy(error)` true: the request answers 503 "try again"."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_seconds},
        )
        _WriteGate(busy_seconds).install(engine)
        event.listen(
            engine, "connect", lambda connection, record: _sqlite_on_connect(connection, record, busy_seconds)
        )
    else:
        engine = create_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            connect_args={"options": f"-c lock_timeout={round(busy_seconds * 1000)}"},
        )
    event.listen(engine, "before_cursor_execute", refuse_control_characters, retval=True)
    event.listen(engine, "before_cursor_execute", _refuse_writes_when_read_only)
    return engine


_BIND_SUFFIX = re.compile(r"_\d+$")  # where-clause binds are named "<column>_1"


def refuse_control_characters(
    _connection: Any,
    _cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    _executemany: bool,
) -> tuple[str, Any]:
    """Raise InvalidInput naming the column when any text parameter holds a refused character.

    It runs for every statement of every engine (ORM flushes, Core updates, queries,
    the CLI and jobs), before the driver, so no route or service can forget it. The
    compiled parameters are the values as given (JSON columns still nested), keyed by
    column; raw driver SQL falls back to the driver parameters.
    """
    compiled = getattr(context, "compiled_parameters", None) if context is not None else None
    rows = compiled if compiled else parameters if isinstance(parameters, list) else [parameters]
    for row in rows:
        items = row.items() if isinstance(row, dict) else enumerate(row or ())
        for key, value in items:
            found = refused_in(value, _BIND_SUFFIX.sub("", str(key)))
            if found:
                field, char = found
                message = refusal_message(field, char)
                raise InvalidInput(message, details={field: message})
    return statement, parameters


def is_busy(error: BaseException) -> bool:
    """True when a statement gave up waiting for another transaction's lock (SQLite "database
    is locked", PostgreSQL lock_timeout): the same request may well succeed a moment later."""
    original = getattr(error, "orig", error)
    if isinstance(original, sqlite3.OperationalError):
        return "database is locked" in str(original) or "database is busy" in str(original)
    return getattr(original, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE


# What SQLite says when the database cannot be written at all (its disk is full or went
# read-only, or the file is gone): no wait helps, but nothing was saved and the next request,
# once the fault is mended, works.
_SQLITE_UNAVAILABLE = (
    "database or disk is full",
    "attempt to write a readonly database",
    "disk i/o error",
    "unable to open database file",
)


def is_unavailable(error: BaseException) -> bool:
    """True when the database went away under a statement: the connection dropped (PostgreSQL
    restarted, the backend terminated, the network cut: SQLAlchemy invalidates the connection, so
    the pool makes a new one) or SQLite's file cannot be written (disk full, read-only). The
    transaction is lost, not half-written; the request answers 503 "try again"."""
    if getattr(error, "connection_invalidated", False):
        return True
    original = getattr(error, "orig", error)
    if isinstance(original, sqlite3.OperationalError):
        return any(text in str(original).lower() for text in _SQLITE_UNAVAILABLE)
    state = getattr(original, "sqlstate", None) or ""
    # 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now
    return state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, busy_seconds: float) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={round(busy_seconds * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _WriteGate:
    """One process's SQLite writers take turns: the gate is taken before BEGIN IMMEDIATE and
    given back when that transaction commits or rolls back (or its connection goes back to the
    pool, whatever happened). Waiting longer than the busy timeout fails as SQLite would."""

    def __init__(self, wait_seconds: float) -> None:
        self._lock = threading.Lock()
        self._holder: object | None = None
        self._wait = wait_seconds

    def install(self, engine: Engine) -> None:
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]
        event.listen(engine, "begin", self._begin)
        event.listen(engine.pool, "checkin", lambda dbapi_connection, _record: self.release(dbapi_connection))

    def _begin(self, connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode != "IMMEDIATE":
            connection.exec_driver_sql(f"BEGIN {mode}")
            return
        raw = _raw(connection.connection)
        if self._holder is not raw and not self._lock.acquire(timeout=self._wait):
            locked = sqlite3.OperationalError("database is locked")  # what SQLite would say
            raise OperationalError("BEGIN IMMEDIATE", None, locked)
        self._holder = raw
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.release(raw)
            raise

    def release(self, dbapi_connection: Any) -> None:
        raw = _raw(dbapi_connection)
        if raw is not None and self._holder is raw:
            self._holder = None
            self._lock.release()


def _raw(connection: Any) -> Any:
    """The driver's own connection behind SQLAlchemy's pool proxy (or the connection itself)."""
    return getattr(connection, "dbapi_connection", connection)


def _refuse_writes_when_read_only(
    connection: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool
) -> None:
    if connection.get_execution_options().get(READ_ONLY_OPTION) and (
        statement.lstrip()[:7].upper().startswith(WRITE_STATEMENTS)
    ):
        raise WriteInReadOnlySession(
            "a read-only session tried to write; write in a transaction of its own "
            f"(app.http.deps.writer): {statement[:60]!r}"
        )


def write_engine(engine: Engine) -> Engine:
    """The same engine, but its transactions start with BEGIN IMMEDIATE on SQLite."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})


def read_only_engine(engine: Engine) -> Engine:
    """The same engine, but its connections refuse to write (see the module docstring)."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


@contextmanager
def session_scope(engine: Engine, *, write: bool = False, read_only: bool = False) -> Iterator[Session]:
    """A session for a unit of work; the caller commits, anything else rolls back."""
    if write and read_only:
        raise ValueError("a session cannot both write and be read-only")
    bind = write_engine(engine) if write else read_only_engine(engine) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        session.info[WRITES] = write
        yield session


def takes_write_lock(session: Session) -> bool:
    """True for a write session (BEGIN IMMEDIATE on SQLite): a second writer would wait for it."""
    return bool(session.info.get(WRITES))
