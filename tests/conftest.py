"""Shared fixtures: a migrated database per test on SQLite (and PostgreSQL when
ATTEST_TEST_POSTGRES_URL is set), a temporary evidence folder, and the app.

Under pytest-xdist every worker is its own session: its own temporary directory
(tmp_path_factory), its own uuid-named PostgreSQL database and its own snapshots.
"""

from __future__ import annotations

import os

# Cheap argon2id for the many test people (app/security.py reads this once, at import).
os.environ["ATTEST_ENV"] = "test"
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url

from app import migrate
from app.adapters.crypto import Keys
from app.config import Settings
from app.db import make_engine
from app.main import configure, create_app
from app.models import metadata

REPO = Path(__file__).resolve().parents[1]
CONTROLS = REPO / "controls"
POSTGRES_URL = os.environ.get("ATTEST_TEST_POSTGRES_URL", "")
SECRET_KEY = "test-secret-key-" + "x" * 32
T = TypeVar("T")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
        metafunc.parametrize("backend", backends)


# Files whose tests share one expensive session server: under pytest-xdist (`make test`,
# --dist loadgroup) each group runs on one worker, so the server starts once, not per worker.
SHARED_SERVER_GROUPS = {"tests/storage/test_s3_store.py": "seaweedfs", "tests/browser/": "chromium"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path)).resolve().relative_to(REPO).as_posix()
        for prefix, group in SHARED_SERVER_GROUPS.items():
            if path.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))


def _psycopg_url(url: str) -> str:
    return (
        url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "attest.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated once, dropped at the end."""
    admin_url = _psycopg_url(POSTGRES_URL)
    name = f"attest_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def empty_tables(connection: Connection) -> None:
    """Delete every row, children first. DELETE, not TRUNCATE: on tables this small TRUNCATE
    costs about 110 ms (a new file per table), DELETE about 5 ms, before every test."""
    connection.execute(text("SET LOCAL attest.audit_prune = 'on'"))
    for table in reversed(metadata.sorted_tables):
        connection.execute(text(f'DELETE FROM "{table.name}"'))


def truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        empty_tables(connection)
        connection.execute(text("INSERT INTO audit_head (chain, seq, hash) VALUES ('installation', 0, '')"))
    engine.dispose()


class Snapshots:
    """Databases populated once per session (and backend), then restored for each test.

    SQLite: the populated file is copied, as `sqlite_template` is. PostgreSQL: the tables are
    copied into a schema of the session database once; a test truncates and reloads them
    (one transaction, much faster than building the data again). `build` gets an engine on
    a freshly migrated database and the test Keys, and returns what the tests need to know
    about the data (ids, not live ORM objects: tests load those per test).
    """

    def __init__(self, request: pytest.FixtureRequest, root: Path) -> None:
        self.request = request
        self.root = root
        self.built: dict[tuple[str, str], Any] = {}

    def value(self, backend: str, name: str, build: Callable[[Engine, Keys], T]) -> T:
        key = (backend, name)
        if key not in self.built:
            self.built[key] = self._build(backend, name, build)
        value: T = self.built[key]
        return value

    def restore(self, backend: str, name: str, tmp_path: Path) -> str:
        """A database url holding the snapshot `name` (built by `value` first)."""
        assert (backend, name) in self.built, "call value() before restore()"
        if backend == "postgres":
            url: str = self.request.getfixturevalue("postgres_database")
            restore_schema(url, _schema(name))
            return url
        target = tmp_path / "attest.db"
        shutil.copyfile(self.root / f"{name}.db", target)
        return f"sqlite:///{target}"

    def _build(self, backend: str, name: str, build: Callable[[Engine, Keys], T]) -> T:
        if backend == "postgres":
            url: str = self.request.getfixturevalue("postgres_database")
            truncate_all(url)
        else:
            template: Path = self.request.getfixturevalue("sqlite_template")
            path = self.root / f"{name}.db"
            shutil.copyfile(template, path)
            url = f"sqlite:///{path}"
        engine = make_engine(url)
        try:
            value = build(engine, Keys(SECRET_KEY))
        finally:
            engine.dispose()
        if backend == "postgres":
            snapshot_schema(url, _schema(name))
        return value


def _schema(name: str) -> str:
    return "snapshot_" + "".join(c if c.isalnum() else "_" for c in name)


def snapshot_schema(url: str, schema: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        for table in metadata.sorted_tables:
            connection.execute(text(f'CREATE TABLE "{schema}"."{table.name}" AS TABLE public."{table.name}"'))
    engine.dispose()


def restore_schema(url: str, schema: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        empty_tables(connection)
        for table in metadata.sorted_tables:  # parents before children
            connection.execute(
                text(f'INSERT INTO public."{table.name}" SELECT * FROM "{schema}"."{table.name}"')
            )
    engine.dispose()


@pytest.fixture(scope="session")
def snapshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    return Snapshots(request, tmp_path_factory.mktemp("snapshots"))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "postgres":
        url: str = request.getfixturevalue("postgres_database")
        truncate_all(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "attest.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": tmp_path / "var",
        "evidence_dir": tmp_path / "evidence",
        "controls_dir": CONTROLS,
        "secret_key": SECRET_KEY,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


_BUILT: dict[tuple[object, ...], tuple[FastAPI, int]] = {}


def built_app(settings: Settings) -> FastAPI:
    """An app for `settings`: built once per worker for each set of what the middleware keeps,
    then pointed at this test's database and folders by `configure` (building the routes costs
    about 0.25 s, which every test used to pay)."""
    key = (settings.max_body_kb, settings.secure_cookies, settings.https, settings.log_level)
    built = _BUILT.get(key)
    if built is not None and len(built[0].router.routes) == built[1]:
        configure(built[0], settings)
        return built[0]
    application = create_app(settings)  # first, or a test added routes to the last one: never reuse that
    _BUILT[key] = (application, len(application.router.routes))
    return application


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = built_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def keys(app: FastAPI) -> Keys:
    value: Keys = app.state.keys
    return value


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client signed in as a supplier lead (most pages need someone signed in)."""
    from tests.factories import make_person, sign_in

    person = make_person(app.state.engine, app.state.keys, "supplier_lead")
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield sign_in(app, test_client, person)
