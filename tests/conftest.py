"""Shared fixtures: a migrated database per test on SQLite (and PostgreSQL when
ATTEST_TEST_POSTGRES_URL is set), a temporary evidence folder, and the app."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from app import migrate
from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.models import metadata
from app.security import Keys

REPO = Path(__file__).resolve().parents[1]
CONTROLS = REPO / "controls"
POSTGRES_URL = os.environ.get("ATTEST_TEST_POSTGRES_URL", "")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
        metafunc.parametrize("backend", backends)


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


def truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL attest.audit_prune = 'on'"))
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        connection.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '')"))
    engine.dispose()


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
        "secret_key": "test-secret-key-" + "x" * 32,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
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
