"""The whole approval story through the API, on the contract calendar (clock travelled).

Schedule 2.4, effective Tuesday 30 July 2024: plan due 11 September 2024 (30 Working Days,
Summer bank holiday 26 August skipped). Submit, reject, revise late, reject again (material
Default), resubmit, approve: the ISAS PDF names the risks and the plan's hash.
Call Off Schedule 7 (long form): submit, reject, resubmit, reject -> Dispute Resolution
Procedure; the 15 Working Days from the first submission are one shared target for the cycle.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, Engagement
from tests.factories import Person, make_engagement, make_org, make_person, sign_in


@contextmanager
def on(day: str, app: FastAPI, *people: tuple[TestClient, Person]) -> Iterator[None]:
    """Travel to 10:00 UK time on `day` and sign the clients in afresh (sessions time out)."""
    with time_machine.travel(datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC), tick=False):
        for client, person in people:
            client.cookies.clear()
            sign_in(app, client, person)
        yield


def fill_plan(client: TestClient, app: FastAPI, eid: str) -> None:
    library = app.state.library
    for control in library.catalogue("cps-security-policy").controls:
        response = client.put(
            f"/api/engagements/{eid}/responses/{control.id}", json={"status": "met", "statement": "In place."}
        )
        assert response.status_code == 200, response.text
    risk = {
        "title": "Removable media lost in transit",
        "control_ids": ["CPS-5.5"] if "CPS-5.5" in library.controls else [],
        "likelihood": 3,
        "impact": 4,
        "treatment": "Encrypt all media; courier with tracking.",
        "owner": "Head of IT",
        "residual_likelihood": 1,
        "residual_impact": 3,
    }
    assert client.post(f"/api/engagements/{eid}/risks", json=risk).status_code == 201
    incident = {
        "document": "Incidents are logged, triaged within an hour and reported to the buyer.",
        "contacts": [{"name": "Sam Duty", "role": "Duty manager", "email": "duty@northwind.example"}],
    }
    assert client.put(f"/api/engagements/{eid}/incident-process", json=incident).status_code == 200
    roles = {"people": [{"kind": "designated_security_contact", "name": "Dana Chief", "board_level": True}]}
    assert client.put(f"/api/engagements/{eid}/security-roles", json=roles).status_code == 200


DECLARATION = {
    "officer_name": "Dana Chief",
    "officer_role": "Chief Operating Officer",
    "declaration_confirmed": True,
}


def deadlines(client: TestClient, eid: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for d in client.get(f"/api/engagements/{eid}/deadlines").json()["deadlines"]:
        out.setdefault(d["kind"], []).append(d)
    return out


def setup(app: FastAPI, profile: str = "schedule-2-4") -> tuple[str, Person, Person]:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    engagement = make_engagement(engine, buyer, supplier)
    with session_scope(engine, write=True) as session:
        row = session.get(Engagement, engagement.id)
        assert row is not None
        row.workflow_profile = profile
        session.add(row)
        session.commit()
    return engagement.id, lead, advisor


def test_schedule_2_4_story(app: FastAPI) -> None:
    eid, lead, advisor = setup(app)
    supplier, buyer = TestClient(app), TestClient(app)
    with on("2024-09-02", app, (supplier, lead), (buyer, advisor)):
        refused = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert refused.status_code == 422
        missing = {m["code"] for m in refused.json()["error"]["details"]["missing"]}
        assert missing == {"unanswered", "no_risks", "no_incident_process", "no_security_contact"}
        assert supplier.get(f"/api/engagements/{eid}/submissions").json() == {"submissions": []}
        fill_plan(supplier, app, eid)
        due = deadlines(supplier, eid)
        assert due["plan_due"][0]["due_on"] == "2024-09-11" and due["plan_due"][0]["state"] == "due"
        assert due["plan_due"][0]["clause"] == "Schedule 2.4 para 4.4"
        assert (
            supplier.post(
                f"/api/engagements/{eid}/submissions", json={**DECLARATION, "declaration_confirmed": False}
            ).status_code
            == 422
        )

    with on("2024-09-10", app, (supplier, lead), (buyer, advisor)):
        first = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert first.status_code == 201, first.text
        v1 = first.json()
        assert v1["version"] == 1 and v1["state"] == "submitted" and len(v1["sha256"]) == 64
        # a supplier can never decide; a second submission while one awaits a decision is refused
        assert (
            supplier.post(f"/api/submissions/{v1['id']}/decision", json={"decision": "approve"}).status_code
            == 404
        )
        assert supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).status_code == 409
        queue = buyer.get("/api/reviews").json()["reviews"]
        assert [(q["submission_id"], q["decision_due"]) for q in queue] == [(v1["id"], "2024-10-08")]

    with on("2024-09-20", app, (supplier, lead), (buyer, advisor)):
        assert (
            buyer.post(f"/api/submissions/{v1['id']}/decision", json={"decision": "reject"}).status_code
            == 422
        )
        note = {"control_id": "CPS-1.1", "body": "Which certificate covers this?"}
        assert buyer.post(f"/api/submissions/{v1['id']}/comments", json=note).status_code == 201
        assert supplier.post(f"/api/submissions/{v1['id']}/comments", json=note).status_code == 404
        assert "Which certificate covers this?" in buyer.get(f"/submissions/{v1['id']}").text
        rejected = buyer.post(
            f"/api/submissions/{v1['id']}/decision",
            json={
                "decision": "reject",
                "reasons": "Encryption evidence missing.",
                "control_reasons": {"CPS-1.1": "Attach the certificate."},
            },
        )
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["decision"]["number"] == "RN-2024-0001"
        assert rejected.json()["plan_state"] == "rejected"
        page = supplier.get(f"/engagements/{eid}/controls/CPS-1.1")
        assert "Attach the certificate." in page.text and "RN-2024-0001" in page.text
        assert deadlines(supplier, eid)["revision_due"][0]["due_on"] == "2024-10-04"

    with on("2024-10-10", app, (supplier, lead), (buyer, advisor)):
        supplier.put(
            f"/api/engagements/{eid}/responses/CPS-1.1",
            json={"status": "met", "statement": "Certificate attached."},
        )
        v2 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).json()
        assert v2["version"] == 2 and v2["sha256"] != v1["sha256"]
        revision = deadlines(supplier, eid)["revision_due"][0]
        assert revision["state"] == "met" and revision["late"] is True
        changes = buyer.get(f"/api/submissions/{v2['id']}/diff").json()["changes"]
        assert {
            "area": "answers",
            "key": "CPS-1.1: statement",
            "what": "changed",
            "before": "In place.",
            "after": "Certificate attached.",
        } in changes

    with on("2024-10-15", app, (supplier, lead), (buyer, advisor)):
        second = buyer.post(
            f"/api/submissions/{v2['id']}/decision",
            json={"decision": "reject", "reasons": "Still incomplete."},
        )
        assert second.json()["decision"]["consequence"] == "material_default"
        plan = buyer.get(f"/api/engagements/{eid}/plan").json()
        assert plan["material_default"] is True and "terminate" in plan["moves"]
        assert "submit" not in plan["moves"]
        assert "submit" in supplier.get(f"/api/engagements/{eid}/plan").json()["moves"]

    with on("2024-10-21", app, (supplier, lead), (buyer, advisor)):
        v3 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).json()
        assert v3["version"] == 3

    with on("2024-10-25", app, (supplier, lead), (buyer, advisor)):
        assert (
            buyer.post(f"/api/submissions/{v3['id']}/decision", json={"decision": "approve"}).status_code
            == 422
        )
        approved = buyer.post(
            f"/api/submissions/{v3['id']}/decision",
            json={
                "decision": "approve",
                "residual_risks_accepted": True,
                "conditions": "Re-test annually.",
                "acknowledge_outstanding": True,  # the register is empty: its certificates stay open
            },
        )
        assert approved.status_code == 200, approved.text
        number = approved.json()["decision"]["number"]
        assert number == "ISAS-2024-0001" and approved.json()["plan_state"] == "approved"
        assert (
            buyer.post(
                f"/api/submissions/{v3['id']}/decision", json={"decision": "reject", "reasons": "x"}
            ).status_code
            == 409
        )
        readiness = supplier.get(f"/api/engagements/{eid}/readiness").json()
        assert not any("Information Security Approval Statement" in r for r in readiness["reasons"])
        pdf = supplier.get(f"/api/submissions/{v3['id']}/statement.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        flat = re.sub(r"\s+", "", text)
        words = " ".join(text.split())
        assert "Removable media lost in transit" in words and v3["sha256"] in flat and number in words
        verified = buyer.get("/verify", params={"number": number, "sha256": v3["sha256"]})
        assert verified.status_code == 200 and "Issued" in verified.text
        assert (
            TestClient(app).get("/verify", params={"number": number, "sha256": v1["sha256"]}).status_code
            == 404
        )
        due = deadlines(supplier, eid)
        assert [d["state"] for d in due["decision_due"]] == ["met", "met", "met"]
        assert due["annual_review_due"][0]["due_on"] == "2025-07-29"

    with session_scope(app.state.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.engagement_id == eid))]
    for action in ("plan_submitted", "plan_rejected", "plan_approved", "statement_downloaded"):
        assert action in actions
    assert actions.count("plan_submitted") == 3


def test_call_off_schedule_7_story_ends_in_dispute(app: FastAPI) -> None:
    eid, lead, advisor = setup(app, "call-off-schedule-7")
    supplier, buyer = TestClient(app), TestClient(app)
    with on("2024-08-12", app, (supplier, lead), (buyer, advisor)):
        fill_plan(supplier, app, eid)
        v1 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).json()
        due = deadlines(supplier, eid)
        # 20 Working Days after 30 July 2024 (the long form, para 4.1, is the default form)
        assert due["plan_due"][0]["due_on"] == "2024-08-28"
        assert due["plan_due"][0]["clause"] == "Call Off Schedule 7 long form para 4.1"
        # 15 Working Days after the first submission: a shared target, not a buyer deadline
        target = due["approval_target"][0]
        assert target["due_on"] == "2024-09-03" and target["party"] == "joint" and target["target"] is True
        assert target["clause"] == "Call Off Schedule 7 long form para 4.3" and "decision_due" not in due
        buyer.post(f"/api/submissions/{v1['id']}/decision", json={"decision": "reject", "reasons": "Gaps."})
    with on("2024-08-20", app, (supplier, lead), (buyer, advisor)):
        v2 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).json()
        # one target for the whole approval cycle: still 15 Working Days from the first submission
        targets = deadlines(supplier, eid)["approval_target"]
        assert [(t["due_on"], t["cycle"], t["state"]) for t in targets] == [("2024-09-03", 1, "due")]
        result = buyer.post(
            f"/api/submissions/{v2['id']}/decision", json={"decision": "reject", "reasons": "Still gaps."}
        )
        assert result.json()["decision"]["consequence"] == "dispute"
        assert result.json()["plan_state"] == "dispute"
        assert supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).status_code == 409
        notice = {"event": "b", "description": "New risk", "aware_date": "2024-08-19"}
        assert supplier.post(f"/api/engagements/{eid}/change-notices", json=notice).status_code == 422
        resolved = buyer.post(f"/api/engagements/{eid}/dispute/resolve")
        assert resolved.json() == {"state": "rejected"}
        assert supplier.post(f"/api/engagements/{eid}/dispute/resolve").status_code == 404


def test_change_notices_and_overdue_register_entries(app: FastAPI) -> None:
    eid, lead, advisor = setup(app)
    supplier, buyer = TestClient(app), TestClient(app)
    with on("2024-09-02", app, (supplier, lead), (buyer, advisor)):
        fill_plan(supplier, app, eid)
        v1 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).json()
        buyer.post(
            f"/api/submissions/{v1['id']}/decision",
            json={"decision": "approve", "residual_risks_accepted": True, "acknowledge_outstanding": True},
        )
        assert supplier.get(f"/api/engagements/{eid}/readiness").json()["may_process_buyer_data"] in (
            True,
            False,
        )
    with on("2024-12-27", app, (supplier, lead), (buyer, advisor)):
        # aware Monday 23 Dec; 2 Working Days skip Christmas and Boxing Day: due Friday 27 Dec
        on_time = supplier.post(
            f"/api/engagements/{eid}/change-notices",
            json={"event": "c", "description": "Critical CVE in gateway", "aware_date": "2024-12-23"},
        )
        assert on_time.status_code == 201 and on_time.json()["late"] is False
        late = supplier.post(
            f"/api/engagements/{eid}/change-notices",
            json={"event": "g", "description": "New site", "aware_date": "2024-12-20"},
        )
        assert late.json()["late"] is True and late.json()["number"] == 2
        bad = supplier.post(
            f"/api/engagements/{eid}/change-notices",
            json={"event": "z", "description": "x", "aware_date": "2024-12-20"},
        )
        assert bad.status_code == 422
        assert (
            buyer.post(
                f"/api/engagements/{eid}/change-notices",
                json={"event": "c", "description": "x", "aware_date": "2024-12-20"},
            ).status_code
            == 404
        )
        plan = supplier.get(f"/api/engagements/{eid}/plan").json()
        entries = [e for e in plan["register"] if e["source"] == "change_notice"]
        assert len(entries) == 2
        updates = deadlines(supplier, eid)["register_update_due"]
        assert {u["due_on"] for u in updates} == {"2025-01-13"}  # 10 Working Days after 27 Dec 2024
        entry = entries[0]
        body = {"title": entry["title"], "agreed_date": "2025-01-31", "status": "planned"}
        assert supplier.put(f"/api/engagements/{eid}/register/{entry['id']}", json=body).status_code == 200
    with on("2025-02-03", app, (supplier, lead), (buyer, advisor)):
        readiness = supplier.get(f"/api/engagements/{eid}/readiness").json()
        assert readiness["may_process_buyer_data"] is False
        assert any("Must cease processing buyer data" in r and "para 5.5" in r for r in readiness["reasons"])
        overdue = [d for d in deadlines(supplier, eid)["register_entry_due"] if d["state"] == "overdue"]
        assert len(overdue) == 1
