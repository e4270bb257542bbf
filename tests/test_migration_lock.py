"""Several `attest db upgrade` processes started together on a fresh database: one migrates,
the others wait for its lock and then find the database current (issue 14, item 6).

The test takes the lock itself the way any other tool would (PostgreSQL's advisory lock with
app.migrate's key; an exclusive flock on the file beside the SQLite database), so all four
processes are provably queued on it before any of them can migrate."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import migrate
from app.db import make_engine
from tests.conftest import CONTROLS, POSTGRES_URL, _psycopg_url

ATTEST = str(Path(sys.executable).parent / "attest")
PROCESSES = 4
WAITING = "waiting for the migration lock"


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new uniquely named PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'attest.db'}"
        return
    admin = make_engine(_psycopg_url(POSTGRES_URL)).execution_options(isolation_level="AUTOCOMMIT")
    name = f"attest_lock_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(_psycopg_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def held_lock(url: str) -> Iterator[None]:
    """Hold the migration lock from outside Attest's code, as another tool would."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.migrate-lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
            fcntl.flock(handle, fcntl.LOCK_UN)
        return
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": migrate.MIGRATION_LOCK_KEY})
        yield
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": migrate.MIGRATION_LOCK_KEY})
    engine.dispose()


def start_upgrade(tmp_path: Path, url: str, n: int, *args: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env.update(
        ATTEST_DATABASE_URL=url, ATTEST_CONTROLS_DIR=str(CONTROLS), ATTEST_DATA_DIR=str(tmp_path / "var")
    )
    out, err = tmp_path / f"upgrade-{n}.out", tmp_path / f"upgrade-{n}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            [ATTEST, "db", "upgrade", *args], cwd=tmp_path, env=env, stdout=stdout, stderr=stderr
        )
    return process, out, err


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def waiting_on_server(url: str) -> int:
    """How many sessions wait for an advisory lock in this PostgreSQL database."""
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalar_one()
    engine.dispose()
    return int(count)


def stored_versions(url: str) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as connection:
        versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    engine.dispose()
    return versions


def lock_is_free(url: str) -> bool:
    if url.startswith("sqlite"):
        with open(f"{make_url(url).database}.migrate-lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        key = {"key": migrate.MIGRATION_LOCK_KEY}
        free = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar())
        if free:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    engine.dispose()
    return free


def assert_migrated_once(url: str, runs: list[tuple[subprocess.Popen[bytes], Path, Path]]) -> None:
    head = migrate.head_revision()
    every_revision = migrate.revisions_between(None, head)
    errors = [err.read_text() for _, _, err in runs]
    for (process, out, _), error in zip(runs, errors, strict=True):
        assert process.returncode == 0, error
        assert out.read_text().strip() == f"database at revision {head}"
        assert "Traceback" not in error
    migrators = [error for error in errors if "applied migration" in error]
    assert len(migrators) == 1, errors  # one process ran the migrations ...
    applied = [
        line.removeprefix("applied migration ").split(":")[0]
        for line in migrators[0].splitlines()
        if line.startswith("applied migration ")
    ]
    assert tuple(applied) == every_revision  # ... each migration once, oldest first
    others = [error for error in errors if error is not migrators[0]]
    assert all("nothing left to apply" in error for error in others if WAITING in error)
    assert stored_versions(url) == [head]
    assert lock_is_free(url)  # released by every process


def test_four_upgrades_queued_on_the_lock_migrate_once(backend: str, fresh_url: str, tmp_path: Path) -> None:
    with held_lock(fresh_url):
        runs = [start_upgrade(tmp_path, fresh_url, n) for n in range(PROCESSES)]
        wait_until(
            lambda: all(WAITING in err.read_text() for _, _, err in runs),
            60,
            "every process to wait for the lock",
        )
        if backend == "postgres":  # blocked on the server's lock itself, not polling
            wait_until(lambda: waiting_on_server(fresh_url) == PROCESSES, 30, "four lock waiters")
        assert all(process.poll() is None for process, _, _ in runs)
        assert not stored_versions_exist(fresh_url)  # nobody migrated while the lock was held
    for process, _, _ in runs:
        process.wait(timeout=120)
    assert_migrated_once(fresh_url, runs)


def test_four_upgrades_started_together_migrate_once(backend: str, fresh_url: str, tmp_path: Path) -> None:
    runs = [start_upgrade(tmp_path, fresh_url, n) for n in range(PROCESSES)]
    for process, _, _ in runs:
        process.wait(timeout=120)
    assert_migrated_once(fresh_url, runs)


def test_an_upgrade_that_cannot_get_the_lock_in_time_changes_nothing(
    backend: str, fresh_url: str, tmp_path: Path
) -> None:
    with held_lock(fresh_url):
        process, out, err = start_upgrade(tmp_path, fresh_url, 0, "--lock-timeout", "1")
        process.wait(timeout=60)
    assert process.returncode == 2
    lines = err.read_text().strip().splitlines()
    assert lines[0].startswith(WAITING)
    assert lines[-1].startswith(
        "attest: error: ATTEST_DATABASE_URL: another process has held the migration lock"
    )
    assert out.read_text() == ""
    assert not stored_versions_exist(fresh_url)


def stored_versions_exist(url: str) -> bool:
    engine = make_engine(url)
    try:
        return migrate.current_revision(engine) is not None
    finally:
        engine.dispose()
