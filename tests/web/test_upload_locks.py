"""Locks and slow clients against a real served instance (uvicorn on a free port, the test's own
database file): reads that record never fail for want of the write lock, an upload holds no
lock while its body crosses the network, and a stalled or crawling body is cut with nothing kept.
"""

from __future__ import annotations

import json
import select as io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.main import create_app
from app.models import AuditEvent, Engagement, Evidence
from tests.conftest import make_settings
from tests.factories import Person, make_engagement, make_evidence, make_org, make_person
from tests.web.served import Served, bearer, multipart, read_response, request_head, serve

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
BOUNDARY = "attest-test-boundary"
UPLOAD_TYPE = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Served]:
    overrides = getattr(request, "param", {})
    app = create_app(make_settings(tmp_path, database_url, **overrides))
    with serve(app) as instance:
        yield instance
    app.state.engine.dispose()


def tenant(app: FastAPI) -> tuple[Engagement, Person]:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    return make_engagement(engine, make_org(engine, "buyer"), supplier), lead


def count(app: FastAPI, table: type[Evidence] | type[AuditEvent], **where: str) -> int:
    with session_scope(app.state.engine) as session:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(getattr(table, name) == value)
        return int(session.exec(query).one())


def upload_head(served: Served, engagement: Engagement, lead: Person, body: bytes) -> bytes:
    headers = {**bearer(served.app, lead.user), **UPLOAD_TYPE}
    return request_head(served, "POST", f"/api/engagements/{engagement.id}/evidence", headers, len(body))


def nothing_left_behind(app: FastAPI, keys_before: list[str]) -> None:
    assert sorted(app.state.store.keys()) == keys_before
    assert not list((Path(app.state.settings.evidence_dir) / "tmp").glob("*"))


def test_twenty_parallel_downloads_while_ten_uploads_run_all_succeed(served: Served) -> None:
    app = served.app
    engagement, lead = tenant(app)
    evidence_id = make_evidence(app, engagement, lead, data=PDF)
    start = threading.Barrier(30)
    downloads: list[int] = []
    uploads: list[int] = []
    limits = httpx.Limits(max_connections=30)
    client = httpx.Client(base_url=served.base_url, headers=bearer(app, lead.user), timeout=60, limits=limits)

    def download() -> None:
        start.wait()
        response = client.get(f"/api/evidence/{evidence_id}/content")
        downloads.append(response.status_code if response.content == PDF else -response.status_code)

    def upload(n: int) -> None:
        start.wait()
        response = client.post(
            f"/api/engagements/{engagement.id}/evidence",
            data={"title": f"Upload {n}", "control_ids": "CPS-1.1"},
            files={"file": (f"u{n}.txt", f"evidence number {n}\n".encode() * 2000, "text/plain")},
        )
        uploads.append(response.status_code)

    threads = [threading.Thread(target=download) for _ in range(20)]
    threads += [threading.Thread(target=upload, args=(n,)) for n in range(10)]
    with client:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    assert sorted(downloads) == [200] * 20
    assert sorted(uploads) == [201] * 10
    assert count(app, AuditEvent, action="evidence_downloaded", object_id=evidence_id) == 20
    assert count(app, Evidence) == 11


def test_saves_stay_under_a_second_while_an_upload_trickles_in_at_one_kib_per_second(
    served: Served,
) -> None:
    app = served.app
    engagement, lead = tenant(app)
    other_engagement, other_lead = tenant(app)  # another tenant entirely
    body = multipart(BOUNDARY, {"title": "Slow", "control_ids": "CPS-1.1"}, "slow.txt", b"s" * 4096)
    head = upload_head(served, engagement, lead, body)
    saves: list[tuple[int, float]] = []
    with socket.create_connection((served.host, served.port), timeout=30) as slow:
        slow.sendall(head + body[:256])
        other = bearer(app, other_lead.user)
        with httpx.Client(base_url=served.base_url, headers=other, timeout=60) as client:
            sent = 256
            while sent < len(body):
                time.sleep(0.25)
                slow.sendall(body[sent : sent + 256])  # 256 bytes every 0.25 s: 1 KiB/s
                sent += 256
                started = time.monotonic()
                response = client.put(
                    f"/api/engagements/{other_engagement.id}/responses/CPS-1.1",
                    json={"status": "met", "statement": f"Save at byte {sent}"},
                )
                saves.append((response.status_code, time.monotonic() - started))
                if saves[-1][1] >= 1.0:
                    break  # waiting for the upload's lock: no need to wait for every chunk
        status, raw = read_response(slow)
    assert status == 201, raw[-500:]
    assert len(saves) >= 12  # the upload lasted over three seconds
    assert all(code == 200 for code, _ in saves), saves
    assert max(seconds for _, seconds in saves) < 1.0, saves


@pytest.mark.parametrize("served", [{"upload_idle_seconds": 1.0}], indirect=True)
def test_a_stalled_upload_is_cut_after_the_idle_timeout_with_408_and_nothing_stored(served: Served) -> None:
    app = served.app
    engagement, lead = tenant(app)
    keys_before = sorted(app.state.store.keys())
    body = multipart(BOUNDARY, {"title": "Stalled", "control_ids": "CPS-1.1"}, "stall.pdf", PDF * 100)
    head = upload_head(served, engagement, lead, body)
    with socket.create_connection((served.host, served.port), timeout=10) as stalled:
        started = time.monotonic()
        stalled.sendall(head + body[: len(body) // 2])  # then nothing more
        status, raw = read_response(stalled)
        waited = time.monotonic() - started
    assert status == 408, raw[-500:]
    error = json.loads(raw.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "request_timeout"
    assert "sent nothing for 1 seconds" in error["message"]
    assert 0.9 < waited < 5
    assert count(app, Evidence) == 0
    nothing_left_behind(app, keys_before)


@pytest.mark.parametrize(
    "served",
    [{"upload_idle_seconds": 5.0, "upload_min_bytes_per_second": 2000, "upload_rate_grace_seconds": 0.5}],
    indirect=True,
)
def test_an_upload_slower_than_the_minimum_rate_is_cut_with_408_and_nothing_stored(served: Served) -> None:
    app = served.app
    engagement, lead = tenant(app)
    keys_before = sorted(app.state.store.keys())
    body = multipart(BOUNDARY, {"title": "Crawl", "control_ids": "CPS-1.1"}, "crawl.txt", b"c" * 20_000)
    head = upload_head(served, engagement, lead, body)
    with socket.create_connection((served.host, served.port), timeout=10) as crawling:
        crawling.sendall(head)
        sent = 0
        # 100 bytes every 0.2 s: 500 B/s, never idle for a second; stop once the server answers
        # (sending on would make it reset the connection, and a reset can drop the answer).
        while sent < len(body) and not io.select([crawling], [], [], 0)[0]:
            crawling.sendall(body[sent : sent + 100])
            sent += 100
            time.sleep(0.2)
        status, raw = read_response(crawling)
    assert status == 408, raw[-500:]
    assert "slower than 2000 bytes a second" in json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["message"]
    assert sent < len(body)
    assert count(app, Evidence) == 0
    nothing_left_behind(app, keys_before)
