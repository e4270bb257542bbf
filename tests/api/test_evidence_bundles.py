"""Issue 17 item 7: evidence bundles for auditors. The zip holds every linked file once, byte for
byte (SHA-256 checked), a manifest in CSV and JSON naming each file's controls, hash, version
and dates, and for a decided submission the statement PDF; it is built while it is sent; only
the engagement's parties get it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent
from app.services import bundles
from tests.factories import (
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    sign_in,
)

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def test_the_engagement_bundle_has_each_file_once_with_its_manifest(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    buyer = make_org(engine, "buyer")
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, buyer, lead.organisation)
    policy = PDF + b"% policy\n"
    make_evidence(app, engagement, lead, data=policy, control_ids=("CPS-1.1", "CPS-1.2"), title="Policy")
    make_evidence(
        app,
        engagement,
        lead,
        data=PDF + b"% log\n",
        control_ids=("CPS-3.5",),
        title="Access log",
        expires_on="2027-01-31",
    )
    advisor = sign_in(app, TestClient(app), make_person(engine, keys, "buyer_advisor", buyer))

    with advisor.stream("GET", f"/api/engagements/{engagement.id}/evidence.zip") as response:
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
        assert "content-length" not in response.headers  # streamed as it is built
        body = b"".join(response.iter_bytes())
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    manifest = json.loads(archive.read("manifest.json"))["files"]
    assert sorted(m["controls"] for m in manifest) == ["CPS-1.1 CPS-1.2", "CPS-3.5"]
    for item in manifest:
        data = archive.read(item["file"])
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["size"]
    log = next(m for m in manifest if m["title"] == "Access log")
    assert log["expires_on"] == "2027-01-31" and log["version"] == 1
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [r["sha256"] for r in rows] == [m["sha256"] for m in manifest]
    assert sorted(archive.namelist()) == sorted(
        ["manifest.csv", "manifest.json", *(m["file"] for m in manifest)]
    )
    with session_scope(engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "engagement_exported")).one()
    assert json.loads(event.details)["files"] == 2


def test_a_decided_submission_bundle_carries_its_statement(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    submission_id = make_decided_submission(engine, engagement)
    client = sign_in(app, TestClient(app), lead)
    response = client.get(f"/submissions/{submission_id}/evidence.zip")
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    statement = [n for n in names if n.startswith("statement/")]
    assert len(statement) == 1 and statement[0].endswith(".pdf")


def test_only_the_parties_get_a_bundle(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    make_evidence(app, engagement, lead)
    stranger = sign_in(app, TestClient(app), make_person(engine, keys, "buyer_advisor"))
    assert stranger.get(f"/api/engagements/{engagement.id}/evidence.zip").status_code == 404


def test_the_zip_is_written_in_bounded_chunks() -> None:
    class Store:
        def open(self, key: str):  # type: ignore[no-untyped-def]
            for _ in range(64):
                yield bytes(range(256)) * 1024  # 256 KiB, 16 MiB in all

    entry = bundles.Entry(
        "CPS-1.1/big.bin", "CPS-1.1", "Big", "x" * 64, 16 << 20, 1, "", "", "other", "official", "", ""
    )
    chunks = list(bundles.zip_chunks(Store(), bundles.Bundle("b", [entry], [])))  # type: ignore[arg-type]
    assert max(len(c) for c in chunks) < 4 << 20  # never the whole file at once
    assert (
        zipfile.ZipFile(io.BytesIO(b"".join(chunks))).read("CPS-1.1/big.bin") == bytes(range(256)) * 1024 * 64
    )


def test_files_compressed_already_are_stored_and_the_rest_deflated() -> None:
    """A PDF or an office file is compressed already: deflating it again costs CPU and saves
    nothing, so it is stored as it is; text is deflated. Both read back byte for byte."""
    body = b"evidence line\n" * 4096

    class Store:
        def open(self, key: str):  # type: ignore[no-untyped-def]
            yield body

    def entry(name: str) -> bundles.Entry:
        return bundles.Entry(
            name, "CPS-1.1", name, "x" * 64, len(body), 1, "", "", "other", "official", "", ""
        )

    names = ["CPS-1.1/policy.pdf", "CPS-1.1/register.XLSX", "CPS-1.1/log.txt"]
    chunks = bundles.zip_chunks(Store(), bundles.Bundle("b", [entry(n) for n in names], []))  # type: ignore[arg-type]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    kinds = {i.filename: i.compress_type for i in archive.infolist() if i.filename in names}
    assert kinds == {
        "CPS-1.1/policy.pdf": zipfile.ZIP_STORED,
        "CPS-1.1/register.XLSX": zipfile.ZIP_STORED,
        "CPS-1.1/log.txt": zipfile.ZIP_DEFLATED,
    }
    assert all(archive.read(n) == body for n in names)
