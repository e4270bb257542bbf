"""`attest backup` and `attest restore` (issue 19 item 6), run as the real commands on SQLite and
PostgreSQL: a backup taken while uploads keep arriving restores into a fresh installation with
every upload acknowledged before it began, every object hash-correct and an audit log that
verifies; once writes stop, a backup restores every row of every table and every object exactly.
The secret key stays out unless asked for; a damaged or incomplete backup and a target that is
not fresh are refused with a message, and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import Engine

from app.adapters.crypto import Keys
from app.adapters.storage import make_store
from app.config import Settings
from app.db import make_engine, session_scope
from app.services import audit
from tests.conftest import SECRET_KEY, built_app, make_settings
from tests.factories import (
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    sign_in,
)
from tests.test_cli import ATTEST, CONTROLS


def env_of(settings: Settings) -> dict[str, str]:
    return {
        "ATTEST_DATABASE_URL": settings.effective_database_url,
        "ATTEST_DATA_DIR": str(settings.data_dir),
        "ATTEST_EVIDENCE_DIR": str(settings.evidence_dir),
        "ATTEST_CONTROLS_DIR": str(CONTROLS),
        "ATTEST_SECRET_KEY": settings.secret_key,
    }


def attest(settings: Settings, *args: str, secret: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")} | env_of(settings)
    if not secret:
        env.pop("ATTEST_SECRET_KEY")
    return subprocess.run([ATTEST, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, database_url: str) -> Iterator[str]:
    """An empty database for the restore: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'attest.db'}"
        return
    name = f"restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = database_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def target_settings(tmp_path: Path, url: str) -> Settings:
    return make_settings(
        tmp_path / "restored",
        url,
        data_dir=tmp_path / "restored" / "var",
        evidence_dir=tmp_path / "restored" / "evidence",
    )


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order (alembic's own table aside)."""
    meta = MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as connection:
        for name, table in sorted(meta.tables.items()):
            if name == "alembic_version":
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            out[name] = [tuple(r) for r in connection.execute(select(table).order_by(*order))]
    return out


def world(app: FastAPI) -> tuple[Any, Any]:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, buyer, supplier)
    for index in range(3):
        make_evidence(app, engagement, lead, data=b"%PDF-1.4\n% seed " + str(index).encode())
    make_decided_submission(engine, engagement)
    return engagement, lead


def upload(client: TestClient, engagement: Any, index: int) -> str:
    answer = client.post(
        f"/api/engagements/{engagement.id}/evidence",
        data={"title": f"Load {index}", "control_ids": "CPS-1.1"},
        files={"file": (f"load-{index}.txt", f"upload {index} {uuid.uuid4().hex}\n".encode() * 200)},
    )
    assert answer.status_code == 201, answer.text
    evidence_id: str = answer.json()["id"]
    return evidence_id


def check_restored(target: Settings, acknowledged: list[str]) -> None:
    engine = make_engine(target.effective_database_url)
    store = make_store(target)
    try:
        with engine.connect() as connection:
            found = dict(connection.execute(text("SELECT id, sha256 FROM evidence")).all())
        assert set(acknowledged) <= set(found)  # every upload acknowledged before the backup began
        for key in set(found.values()):
            assert store.hash_of(key) == key  # every object there, byte for byte
        with session_scope(engine) as session:
            report = audit.verify(session, Keys.from_settings(target).audit, target.audit_checkpoint_file)
        assert report.ok, report
    finally:
        engine.dispose()


def test_a_backup_taken_while_serving_restores_a_consistent_installation(
    tmp_path: Path, database_url: str, fresh_url: str
) -> None:
    source = make_settings(tmp_path / "source", database_url)
    app = built_app(source)
    engagement, lead = world(app)
    acknowledged: list[str] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def load() -> None:
        try:
            with sign_in(app, TestClient(app), lead) as client:
                index = 0
                while not stop.is_set():
                    upload(client, engagement, index)
                    index += 1
        except BaseException as error:
            failures.append(error)

    with sign_in(app, TestClient(app), lead) as client:
        acknowledged += [upload(client, engagement, 1000 + i) for i in range(3)]
    writer = threading.Thread(target=load)
    writer.start()
    try:
        made = attest(source, "backup", str(tmp_path / "backup"), "--json")
    finally:
        stop.set()
        writer.join()
    assert not failures, failures
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert summary["objects"] >= 6 and summary["secret_key_included"] is False
    assert not (tmp_path / "backup" / "secret_key").exists()
    assert SECRET_KEY not in "".join(
        p.read_text(errors="replace") for p in (tmp_path / "backup").glob("*.json")
    )

    target = target_settings(tmp_path, fresh_url)
    restored = attest(target, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stderr
    assert "Restored the" in restored.stdout and "holds no secret key" in restored.stdout
    check_restored(target, acknowledged)
    app.state.engine.dispose()


def test_once_writes_stop_every_row_and_object_comes_back_exactly(
    tmp_path: Path, database_url: str, fresh_url: str
) -> None:
    source = make_settings(tmp_path / "source", database_url)
    app = built_app(source)
    engagement, lead = world(app)
    with sign_in(app, TestClient(app), lead) as client:
        acknowledged = [upload(client, engagement, i) for i in range(4)]
    made = attest(source, "backup", str(tmp_path / "backup"), "--with-key")
    assert made.returncode == 0, made.stderr
    assert "the secret key is included" in made.stdout
    assert (tmp_path / "backup" / "secret_key").stat().st_mode & 0o077 == 0  # owner only
    target = target_settings(tmp_path, fresh_url)
    restored = attest(target, "restore", str(tmp_path / "backup"), secret=False)
    assert restored.returncode == 0, restored.stderr
    # the key came back with the backup: the restored installation reads its TOTP secrets
    assert (target.data_dir / "secret_key").read_text() == SECRET_KEY

    restored_engine = make_engine(target.effective_database_url)
    try:
        assert rows(restored_engine) == rows(app.state.engine)
    finally:
        restored_engine.dispose()
    source_store, target_store = app.state.store, make_store(target)
    assert sorted(target_store.keys()) == sorted(source_store.keys())
    check_restored(target, acknowledged)
    app.state.engine.dispose()


def test_a_damaged_backup_or_a_target_in_use_is_refused_and_nothing_is_written(
    tmp_path: Path, database_url: str, fresh_url: str
) -> None:
    source = make_settings(tmp_path / "source", database_url)
    app = built_app(source)
    world(app)
    folder = tmp_path / "backup"
    assert attest(source, "backup", str(folder)).returncode == 0
    again = attest(source, "backup", str(folder))
    assert again.returncode == 2 and "is not empty: back up into a new folder" in again.stderr

    # restoring over the installation that is still in use
    over = attest(source, "restore", str(folder))
    assert over.returncode == 2 and "The target database is not empty" in over.stderr

    target = target_settings(tmp_path, fresh_url)
    victim = next((folder / "objects").iterdir())
    victim.write_bytes(victim.read_bytes() + b"tampered")
    damaged = attest(target, "restore", str(folder))
    assert damaged.returncode == 2
    assert f"objects/{victim.name} does not match its SHA-256 in the manifest" in damaged.stderr
    victim.unlink()
    incomplete = attest(target, "restore", str(folder))
    assert incomplete.returncode == 2 and f"objects/{victim.name} is missing" in incomplete.stderr
    objects = Path(target.evidence_dir) / "objects"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]  # nothing stored
    fresh = make_engine(target.effective_database_url)
    try:
        assert rows(fresh) == {}  # no table was made
    finally:
        fresh.dispose()
    app.state.engine.dispose()
