"""Concurrency drill (issue 19 item 4): 8 writer processes, each with its own app and database
engine, send mixed transactions through the real API into one database at the same time:
answer saves (their own control, and one control all of them fight over), evidence uploads,
new and edited risks and register entries, one submission and its decision; every one of them
writes audit events.

Guarantees checked afterwards: no error (a 409 is allowed only on the contested control, where
the optimistic-concurrency rule says a stale save is refused, and is counted); no lost update
(every acknowledged write is present, with the content of its last acknowledged save, and each
evidence item holds the bytes that were sent); the audit chains are linear (`attest audit
verify`) and the stored evidence is intact (`attest verify-evidence`).

The default suite runs 8 x 25 transactions; `make test-hardening` sets HARDENING_DRILL_TRANSACTIONS
to 200.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.models import AuditEvent, ControlResponse, Evidence, RegisterEntry, ResponseChange, Risk
from tests.api.test_approval_story import DECLARATION, fill_plan
from tests.factories import Person, make_engagement, make_org, make_person, sign_in
from tests.hardening.test_backup_restore import env_of
from tests.test_cli import ATTEST

PROCESSES = 8
TRANSACTIONS = int(os.environ.get("HARDENING_DRILL_TRANSACTIONS", "25"))
CONTESTED = "CPS-1.2"
KINDS = ("own answer", "contested answer", "upload", "new risk", "risk edit", "new entry", "entry edit")


@dataclass
class Tally:
    """What one writer saw: acknowledged writes (what the server said it committed) and refusals."""

    acknowledged: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    own_answer: tuple[str, int, str] | None = None  # control, version, last statement
    contested_versions: list[int] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)  # id -> sha256 of the bytes sent
    risks: dict[str, str] = field(default_factory=dict)  # id -> last acknowledged title
    entries: dict[str, str] = field(default_factory=dict)
    decided: str | None = None  # the decision number, from the writer that submits


def pdf(text: str) -> bytes:
    return f"%PDF-1.4\n% {text}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".encode()


def _current(body: Any) -> int | None:
    """The current version a 409 names (the service puts it in the problem's details)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "current_version" and isinstance(value, int):
                return value
            found = _current(value)
            if found is not None:
                return found
    return None


class Writer:
    def __init__(self, app: FastAPI, lead: Person, eid: str, own_control: str, number: int) -> None:
        self.app, self.eid, self.number, self.own_control = app, eid, number, own_control
        self.client = sign_in(app, TestClient(app, base_url="http://127.0.0.1:8000"), lead)
        self.tally = Tally()
        self.own_version = 0
        self.contested_version = 0
        self.risk: tuple[str, int] | None = None
        self.entry: tuple[str, int] | None = None

    def ok(self, kind: str, response: Any, expected: int) -> dict[str, Any] | None:
        if response.status_code == expected:
            self.tally.acknowledged[kind] += 1
            data: dict[str, Any] = response.json()
            return data
        self.tally.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
        return None

    def step(self, i: int) -> None:
        kind, text = KINDS[(i + self.number) % len(KINDS)], f"writer {self.number} transaction {i}"
        api = f"/api/engagements/{self.eid}"
        if kind == "own answer":
            body = {"status": "met", "statement": text, "expected_version": self.own_version}
            if done := self.ok(kind, self.client.put(f"{api}/responses/{self.own_control}", json=body), 200):
                self.own_version = done["version"]
                self.tally.own_answer = (self.own_control, done["version"], text)
        elif kind == "contested answer":
            body = {"status": "met", "statement": text, "expected_version": self.contested_version}
            response = self.client.put(f"{api}/responses/{CONTESTED}", json=body)
            if response.status_code == 409:  # the rule: a save based on a stale version is refused
                self.tally.conflicts += 1
                current = _current(response.json())
                if current is None:
                    self.tally.errors.append(f"409 without the current version: {response.text[:200]}")
                else:
                    self.contested_version = current
            elif done := self.ok(kind, response, 200):
                self.contested_version = done["version"]
                self.tally.contested_versions.append(done["version"])
        elif kind == "upload":
            data = pdf(text)
            files = {"file": (f"drill-{self.number}-{i}.pdf", data, "application/pdf")}
            form = {"title": text, "kind": "policy", "control_ids": self.own_control}
            if done := self.ok(kind, self.client.post(f"{api}/evidence", data=form, files=files), 201):
                self.tally.evidence[done["id"]] = hashlib.sha256(data).hexdigest()
        elif kind in ("new risk", "risk edit"):
            risk = {
                "title": text,
                "likelihood": 2,
                "impact": 3,
                "residual_likelihood": 1,
                "residual_impact": 1,
            }
            if kind == "risk edit" and self.risk is not None:
                response = self.client.put(
                    f"{api}/risks/{self.risk[0]}", json={**risk, "expected_version": self.risk[1]}
                )
                expected = 200
            else:
                kind, response, expected = "new risk", self.client.post(f"{api}/risks", json=risk), 201
            if done := self.ok(kind, response, expected):
                self.risk = (done["id"], done["version"])
                self.tally.risks[done["id"]] = text
        else:
            entry: dict[str, Any] = {"title": text}
            if kind == "entry edit" and self.entry is not None:
                entry["expected_version"] = self.entry[1]
                response, expected = self.client.put(f"{api}/register/{self.entry[0]}", json=entry), 200
            else:
                kind, response, expected = "new entry", self.client.post(f"{api}/register", json=entry), 201
            if done := self.ok(kind, response, expected):
                self.entry = (done["id"], done["version"])
                self.tally.entries[done["id"]] = text

    def submit_and_decide(self, ready: str, advisor: Person) -> None:
        """The submission of the other engagement's plan, then the buyer's decision on it."""
        submitted = self.ok(
            "submission", self.client.post(f"/api/engagements/{ready}/submissions", json=DECLARATION), 201
        )
        if submitted is None:
            return
        buyer = sign_in(self.app, TestClient(self.app, base_url="http://127.0.0.1:8000"), advisor)
        decision = {"decision": "reject", "reasons": "The drill asks for more detail on CPS-1.1."}
        response = buyer.post(f"/api/submissions/{submitted['id']}/decision", json=decision)
        if done := self.ok("decision", response, 200):
            self.tally.decided = str(done.get("decision_number") or done.get("number") or done.get("id"))


def writer(
    settings: Settings,
    lead: Person,
    eid: str,
    control: str,
    number: int,
    job: dict[str, Any],
    start: Any,
    out: Any,
) -> None:
    app = create_app(settings)  # its own engine: nothing shared with the parent's connections
    tally = Tally()
    try:
        w = Writer(app, lead, eid, control, number)
        tally = w.tally
        start.wait()
        for i in range(TRANSACTIONS):
            if job and i == TRANSACTIONS // 2:
                w.submit_and_decide(job["ready"], job["advisor"])
            else:
                w.step(i)
    except Exception as error:  # reported, and fails the test
        tally.errors.append(f"{type(error).__name__}: {error}"[:300])
    finally:
        app.state.engine.dispose()
        out.put(tally)


def attest(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")} | env_of(settings)
    return subprocess.run([ATTEST, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_8_writers_of_mixed_transactions_lose_nothing_and_keep_the_audit_chains_linear(
    app: FastAPI, settings: Settings, backend: str
) -> None:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    leads = [make_person(engine, keys, "supplier_lead", supplier) for _ in range(PROCESSES)]
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    drilled, ready = make_engagement(engine, buyer, supplier), make_engagement(engine, buyer, supplier)
    fill_plan(sign_in(app, TestClient(app), leads[0]), app, ready.id)  # submittable, answered beforehand
    controls = [
        c.id for c in app.state.library.catalogue("cps-security-policy").controls if c.id != CONTESTED
    ]
    engine.dispose()  # the writers fork: leave them no pooled connection to share

    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    job = {"ready": ready.id, "advisor": advisor}
    writers = [
        context.Process(
            target=writer,
            args=(settings, lead, drilled.id, controls[n], n, job if n == 0 else {}, start, out),
        )
        for n, lead in enumerate(leads)
    ]
    for process in writers:
        process.start()
    started = time.monotonic()
    start.set()
    tallies: list[Tally] = [out.get(timeout=900) for _ in writers]
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0
    seconds = time.monotonic() - started

    errors = [e for t in tallies for e in t.errors]
    assert errors == [], errors[:5]
    acknowledged = sum((t.acknowledged for t in tallies), Counter())
    conflicts = sum(t.conflicts for t in tallies)
    # one writer's slot held two transactions: the submission and its decision
    assert sum(acknowledged.values()) + conflicts == PROCESSES * TRANSACTIONS + 1
    assert acknowledged["submission"] == acknowledged["decision"] == 1

    with session_scope(engine) as session:
        # Each writer's own answer: one version per acknowledged save, with the last statement.
        for tally in tallies:
            assert tally.own_answer is not None
            control, version, statement = tally.own_answer
            row = session.exec(
                select(ControlResponse).where(
                    ControlResponse.engagement_id == drilled.id, ControlResponse.control_id == control
                )
            ).one()
            assert (row.version, row.statement) == (version, statement)
        # The contested answer: acknowledged versions are distinct and gapless, as many as its history.
        contested = session.exec(
            select(ControlResponse).where(
                ControlResponse.engagement_id == drilled.id, ControlResponse.control_id == CONTESTED
            )
        ).one()
        versions = sorted(v for t in tallies for v in t.contested_versions)
        assert versions == list(range(1, contested.version + 1))
        history = session.exec(
            select(func.count())
            .select_from(ResponseChange)
            .where(ResponseChange.engagement_id == drilled.id, ResponseChange.control_id == CONTESTED)
        ).one()
        assert history == contested.version
        # Every acknowledged upload, risk and register entry is there with what was last sent.
        for tally in tallies:
            for evidence_id, sha256 in tally.evidence.items():
                stored = session.get(Evidence, evidence_id)
                assert stored is not None and stored.sha256 == sha256
            for risk_id, title in tally.risks.items():
                risk = session.get(Risk, risk_id)
                assert risk is not None and risk.title == title
            for entry_id, title in tally.entries.items():
                entry = session.get(RegisterEntry, entry_id)
                assert entry is not None and entry.title == title
        audited = session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.engagement_id == drilled.id)
        ).one()
    writes = sum(n for kind, n in acknowledged.items() if kind not in ("submission", "decision"))
    assert audited >= writes  # every acknowledged write on the drilled engagement left an audit event

    verified = attest(settings, "audit", "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["checked"] >= audited
    evidence_check = attest(settings, "verify-evidence")
    assert evidence_check.returncode == 0, evidence_check.stdout + evidence_check.stderr

    summary = os.environ.get("HARDENING_REPORT")
    if summary:
        tried = (
            f"{backend}: {PROCESSES} writers x {TRANSACTIONS} in {seconds:.0f} s, "
            f"{sum(acknowledged.values())} acknowledged, {conflicts} conflicts (contested answer), "
            f"0 lost, {report['checked']} audit records verified"
        )
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"tried": tried}) + "\n")
