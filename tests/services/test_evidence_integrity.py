"""Cleaning up after a crash, on SQLite and PostgreSQL: only what was never acknowledged goes."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.adapters.storage import LocalEvidenceStore
from app.db import session_scope
from app.services import evidence_integrity as integrity
from tests.factories import make_engagement, make_evidence, make_org, make_person

HOUR = 3600


def age(path: Path, seconds_ago: float = 2 * HOUR) -> None:
    moment = time.time() - seconds_ago
    os.utime(path, (moment, moment))


def plant_orphan(store: LocalEvidenceStore, data: bytes, *, seconds_ago: float) -> str:
    """An object renamed into place whose row never committed (the process died in between)."""
    with store.begin() as upload:
        upload.write(data)
        key = upload.finish().key
    age(store.path_for(key), seconds_ago)
    return key


def committed_evidence(app: FastAPI, data: bytes) -> str:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    make_evidence(app, engagement, lead, data=data)
    key = hashlib.sha256(data).hexdigest()
    age(app.state.store.path_for(key), 30 * 24 * HOUR)  # old, but acknowledged
    return key


def test_sweep_removes_only_old_orphans_and_stale_temp_files(app: FastAPI) -> None:
    store: LocalEvidenceStore = app.state.store
    kept = committed_evidence(app, b"%PDF-1.4\nacknowledged evidence\n")
    old = plant_orphan(store, b"orphan of a crash\n", seconds_ago=2 * HOUR)
    young = plant_orphan(store, b"upload about to commit\n", seconds_ago=60)
    stale = store.tmp_dir / "upload-crashed"
    stale.write_bytes(b"half an upload")
    age(stale)
    fresh = store.tmp_dir / "upload-streaming"
    fresh.write_bytes(b"an upload in progress")

    with session_scope(app.state.engine) as session:
        before = integrity.check(session, store, grace_seconds=HOUR)
        swept = integrity.sweep(session, store, grace_seconds=HOUR)
        after = integrity.check(session, store, grace_seconds=HOUR)

    assert (before.orphans, before.young_orphans, before.stale_temp_files) == ([old], [young], 1)
    assert not before.ok
    assert swept == integrity.Sweep(orphans=[old], temp_files=["upload-crashed"])
    assert after.ok and after.checked == 1 and after.young_orphans == [young]
    assert sorted(store.keys()) == sorted([kept, young])
    assert store.hash_of(kept) == kept
    assert sorted(p.name for p in store.tmp_dir.iterdir()) == ["upload-streaming"]


def test_an_old_orphan_claimed_by_a_new_upload_of_the_same_bytes_is_kept(app: FastAPI) -> None:
    store: LocalEvidenceStore = app.state.store
    data = b"%PDF-1.4\nuploaded again after the crash\n"
    orphan = plant_orphan(store, data, seconds_ago=2 * HOUR)
    with store.begin() as upload:  # the same bytes again: the stored object is reused ...
        upload.write(data)
        assert upload.finish().key == orphan
    # ... and made young, so a sweep before this upload's row commits leaves it alone
    with session_scope(app.state.engine) as session:
        assert integrity.sweep(session, store, grace_seconds=HOUR).orphans == []
    assert store.exists(orphan)


def test_a_row_committed_after_the_sweep_read_the_rows_still_protects_its_object(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: LocalEvidenceStore = app.state.store
    data = b"%PDF-1.4\ncommitted while the sweep was listing\n"
    key = plant_orphan(store, data, seconds_ago=2 * HOUR)
    with session_scope(app.state.engine) as session:
        snapshot = integrity._referenced(session)  # what the sweep read before the commit
        assert key not in snapshot
        committed_evidence(app, data)  # the row commits; the object is old all the same
        monkeypatch.setattr(integrity, "_referenced", lambda _session: snapshot)
        assert integrity.sweep(session, store, grace_seconds=HOUR).orphans == []
    assert store.hash_of(key) == key


def test_the_start_up_sweep_stops_when_its_time_is_up(app: FastAPI) -> None:
    store: LocalEvidenceStore = app.state.store
    for number in range(3):
        plant_orphan(store, f"orphan {number}\n".encode(), seconds_ago=2 * HOUR)
    with session_scope(app.state.engine) as session:
        swept = integrity.sweep(session, store, grace_seconds=HOUR, budget_seconds=0)
    assert not swept.complete and swept.orphans == []
    assert len(list(store.keys())) == 3
