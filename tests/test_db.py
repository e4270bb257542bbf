"""The database layer on SQLite and PostgreSQL: migrations, pragmas, write locking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from app import migrate
from app.db import make_engine, session_scope
from app.models import Organisation, OrgKind, metadata


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    assert migrate.is_current(engine)


def test_fresh_database_is_not_current_until_upgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert not migrate.is_current(engine)
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from app.models import User

    with session_scope(engine, write=True) as session:
        session.add(User(email="x@example.com", name="X", organisation_id="missing", role="supplier_lead"))
        try:
            session.commit()
        except Exception as error:  # IntegrityError from either driver
            assert "foreign key" in str(error).lower()
        else:
            raise AssertionError("a user in a missing organisation was saved")


def test_concurrent_read_then_write_transactions_all_commit(engine: Engine) -> None:
    """Read-modify-write from many threads: BEGIN IMMEDIATE means none is lost."""
    with session_scope(engine, write=True) as session:
        session.add(Organisation(name="Counter", kind=OrgKind.SUPPLIER))
        session.commit()
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(10):
                with session_scope(engine, write=True) as session:
                    if engine.dialect.name == "postgresql":
                        session.execute(text("LOCK TABLE organisation IN EXCLUSIVE MODE"))
                    org = session.exec(select(Organisation).where(Organisation.name.like("Counter%"))).one()
                    org.name = f"Counter{int(org.name.removeprefix('Counter') or 0) + 1}"
                    session.add(org)
                    session.commit()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_scope(engine) as session:
        assert session.exec(select(Organisation.name)).one() == "Counter60"


def test_the_writers_of_one_process_take_turns_on_sqlite(tmp_path: Path) -> None:
    """SQLite's busy handler polls with growing sleeps and favours no one: under steady writing
    from 8 threads a waiter used to lose the write lock again and again for seconds. Queued on
    the engine's gate, every writer gets its turn within a fraction of a second."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (1, 0)"))
    waits: list[float] = []
    stop = time.monotonic() + 2.0

    def write() -> None:
        while time.monotonic() < stop:
            began = time.perf_counter()
            with session_scope(engine, write=True) as session:
                session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
                waited = time.perf_counter() - began
                time.sleep(0.005)  # a write transaction's own work
                session.commit()
            waits.append(waited)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with session_scope(engine) as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == len(waits)
    # None waits 0.5 s, but for one outlier under 1 s: the suite shares two cores with another
    # worker, which may deschedule a writer (an unfair lock makes many writers wait seconds).
    long_waits = [w for w in waits if w >= 0.5]
    assert len(long_waits) <= 1 and max(waits) < 1.0, (
        f"waits of 0.5 s or more: {[f'{w:.2f}' for w in long_waits]} of {len(waits)} writes"
    )
    engine.dispose()
