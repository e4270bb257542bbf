"""The contract clock through the API (issue 13 items 3 to 6): closure days are information
unless the parties agreed a calendar; agreed variations recorded by the buyer's advisor (audited,
shown with the rule, refused where the clause allows none and for anyone else); a written
direction lifting "must cease processing"; the para 6.6 notice created by an expired certificate;
Call Off Schedule 7's approval period as a shared target (the review's resubmission example).
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.domain.variations import CallOffForm
from app.models import AgreedVariation, AuditEvent, Engagement, Organisation, RegisterEntry
from tests.api.test_approval_story import DECLARATION, deadlines, fill_plan, on, setup
from tests.factories import (
    Person,
    make_certificate,
    make_decided_submission,
    make_engagement,
    make_org,
    make_person,
    make_register_entry,
    sign_in,
)


def events(app: FastAPI, engagement_id: str, action: str, outcome: str = "allowed") -> list[AuditEvent]:
    with session_scope(app.state.engine) as session:
        query = select(AuditEvent).where(
            AuditEvent.engagement_id == engagement_id,
            AuditEvent.action == action,
            AuditEvent.outcome == outcome,
        )
        return list(session.exec(query))


def variation_rows(app: FastAPI, engagement_id: str) -> int:
    with session_scope(app.state.engine) as session:
        query = (
            select(func.count())
            .select_from(AgreedVariation)
            .where(AgreedVariation.engagement_id == engagement_id)
        )
        return int(session.exec(query).one())


@dataclass
class Parties:
    """A Schedule 2.4 engagement effective Tuesday 30 July 2024, its advisor and supplier lead,
    each with a signed-in client."""

    engagement: Engagement
    supplier: Organisation
    advisor: TestClient
    lead: TestClient
    advisor_person: Person
    lead_person: Person

    def at(self, day: str, app: FastAPI) -> AbstractContextManager[None]:
        """Travel to `day` with both clients signed in afresh."""
        return on(day, app, (self.lead, self.lead_person), (self.advisor, self.advisor_person))


def people(app: FastAPI) -> Parties:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    engagement = make_engagement(engine, buyer, supplier)
    advisor_person = make_person(engine, keys, "buyer_advisor", buyer)
    lead_person = make_person(engine, keys, "supplier_lead", supplier)
    advisor, lead = TestClient(app), TestClient(app)
    sign_in(app, advisor, advisor_person)
    sign_in(app, lead, lead_person)
    return Parties(engagement, supplier, advisor, lead, advisor_person, lead_person)


def plan_due(client: TestClient, engagement_id: str) -> dict:
    return deadlines(client, engagement_id)["plan_due"][0]


def test_closure_days_are_shown_and_count_only_under_an_agreed_calendar(app: FastAPI) -> None:
    # Schedule 2.4 para 4.4: 30 Working Days from 30 July 2024 is 11 September (Summer bank
    # holiday skipped). A closure day on Monday 2 September moves nothing until both parties
    # agree that closure days are not Working Days; then the count skips it too: 12 September.
    world = people(app)
    engagement, advisor, lead = world.engagement, world.advisor, world.lead
    eid = engagement.id
    closed = advisor.post("/api/closure-days", json={"day": "2024-09-02", "reason": "Office move"})
    assert closed.status_code == 201
    shown = plan_due(lead, eid)
    assert shown["due_on"] == "2024-09-11"
    assert shown["notes"] == [
        "The buyer's office is closed on Monday 2 September 2024 (Office move). For information only:"
        " a closure day declared by one party does not move this date."
    ]
    agreed = advisor.post(
        f"/api/engagements/{eid}/variations",
        json={"kind": "calendar", "reference": "Letter of 1 August 2024", "agreed_on": "2024-08-01"},
    )
    assert agreed.status_code == 201, agreed.text
    body = agreed.json()
    assert body["kind"] == "calendar" and body["reference"] == "Letter of 1 August 2024"
    moved = plan_due(lead, eid)
    assert moved["due_on"] == "2024-09-12"
    assert (
        "not a Working Day in this engagement, as the parties agreed (Letter of 1 August 2024)"
        in moved["notes"][0]
    )
    assert [v["kind"] for v in lead.get(f"/api/engagements/{eid}/variations").json()["variations"]] == [
        "calendar"
    ]
    assert advisor.delete(f"/api/engagements/{eid}/variations/{body['id']}").status_code == 204
    assert plan_due(lead, eid)["due_on"] == "2024-09-11"
    assert lead.get(f"/api/engagements/{eid}/variations").json() == {"variations": [], "next_cursor": None}
    assert (
        len(events(app, eid, "variation_recorded")) == 1 and len(events(app, eid, "variation_removed")) == 1
    )


def test_an_agreed_date_is_audited_and_shown_with_the_rule(app: FastAPI) -> None:
    # Para 4.6 "within ten (10) Working Days or such other timescale as agreed": rejected Friday
    # 20 September 2024, so by Friday 4 October (Sep 23-27, Sep 30-Oct 4); agreed: 18 October.
    world = people(app)
    engagement, advisor, lead = world.engagement, world.advisor, world.lead
    eid = engagement.id
    submission = make_decided_submission(app.state.engine, engagement)
    before = deadlines(lead, eid)["revision_due"][0]
    assert (before["due_on"], before["may_vary"], before["variation"]) == ("2024-10-04", True, None)
    recorded = advisor.post(
        f"/api/engagements/{eid}/variations",
        json={
            "kind": "deadline",
            "deadline_kind": "revision_due",
            "object_id": submission,
            "due_on": "2024-10-18",
            "reference": "Minute 12 of the security working group",
            "agreed_on": "2024-09-25",
            "note": "Pen test report due on 15 October.",
        },
    )
    assert recorded.status_code == 201, recorded.text
    row = recorded.json()
    assert (row["rule_due_on"], row["due_on"], row["clause"]) == (
        "2024-10-04",
        "2024-10-18",
        "Schedule 2.4 para 4.6",
    )
    revision = deadlines(lead, eid)["revision_due"][0]
    assert (
        revision["due_on"] == "2024-10-18"
        and revision["rule"] == "Within 10 Working Days of the rejection notice"
    )
    assert revision["clause"] == "Schedule 2.4 para 4.6"
    variation = revision["variation"]
    assert variation["original_due_on"] == "2024-10-04" and variation["reference"].startswith("Minute 12")
    assert variation["agreed_on"] == "2024-09-25" and variation["recorded_by"]
    (event,) = events(app, eid, "variation_recorded")
    details = json.loads(event.details)
    assert details["deadline_kind"] == "revision_due" and details["rule_due_on"] == "2024-10-04"
    assert details["due_on"] == "2024-10-18" and details["clause"] == "Schedule 2.4 para 4.6"
    # The supplier reads it, on the plan page too.
    listed = lead.get(f"/api/engagements/{eid}/variations").json()["variations"]
    assert [(v["subject"], v["recorded_by_name"]) for v in listed] == [
        ("Revised plan after the rejection of version 1", row["recorded_by_name"])
    ]
    assert "Minute 12 of the security working group" in lead.get(f"/engagements/{eid}/plan").text
    # A second agreed date for the same deadline: 409, nothing written.
    again = advisor.post(
        f"/api/engagements/{eid}/variations",
        json={
            "kind": "deadline",
            "deadline_kind": "revision_due",
            "object_id": submission,
            "due_on": "2024-10-25",
            "reference": "Minute 13",
            "agreed_on": "2024-09-26",
        },
    )
    assert again.status_code == 409 and again.json()["error"]["details"]["variation_id"] == row["id"]
    assert variation_rows(app, eid) == 1 and deadlines(lead, eid)["revision_due"][0]["due_on"] == "2024-10-18"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"deadline_kind": "plan_due", "due_on": "2024-12-31"}, "clause", "Schedule 2.4 para 4.4"),
        ({"deadline_kind": "annual_review_due", "due_on": "2025-12-31"}, "clause", "Schedule 2.4 para 5.1"),
        ({"deadline_kind": "plan_due", "due_on": "2024-12-31", "reference": " "}, "clause", "para 4.4"),
        ({"deadline_kind": "nonsense", "due_on": "2024-12-31"}, "deadline_kind", "Choose the deadline"),
        (
            {"deadline_kind": "revision_due", "object_id": "x" * 32, "due_on": "2024-12-31"},
            "object_id",
            "no such",
        ),
    ],
)
def test_a_variation_the_contract_does_not_allow_is_refused_and_writes_nothing(
    app: FastAPI, body: dict, field: str, words: str
) -> None:
    world = people(app)
    engagement, advisor = world.engagement, world.advisor
    answer = advisor.post(
        f"/api/engagements/{engagement.id}/variations",
        json={"kind": "deadline", "reference": "Letter 4", "agreed_on": "2024-08-01", **body},
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert field in error["details"] and words.lower() in error["message"].lower()
    assert variation_rows(app, engagement.id) == 0 and events(app, engagement.id, "variation_recorded") == []


def test_bad_input_is_refused_field_by_field_and_writes_nothing(app: FastAPI) -> None:
    world = people(app)
    engagement, advisor = world.engagement, world.advisor
    url = f"/api/engagements/{engagement.id}/variations"
    future = advisor.post(url, json={"kind": "calendar", "reference": "Letter", "agreed_on": "2099-01-01"})
    assert future.status_code == 422 and "agreed_on" in future.json()["error"]["details"]
    blank = advisor.post(url, json={"kind": "calendar", "reference": "   ", "agreed_on": "2024-08-01"})
    assert blank.status_code == 422 and "reference" in blank.json()["error"]["details"]
    dated = advisor.post(
        url,
        json={"kind": "calendar", "reference": "Letter", "agreed_on": "2024-08-01", "due_on": "2024-09-01"},
    )
    assert dated.status_code == 422 and "due_on" in dated.json()["error"]["details"]
    no_entry = advisor.post(url, json={"kind": "direction", "reference": "Letter", "agreed_on": "2024-08-01"})
    assert no_entry.status_code == 422 and "object_id" in no_entry.json()["error"]["details"]
    assert variation_rows(app, engagement.id) == 0


def test_a_supplier_may_not_record_or_remove_a_variation(app: FastAPI) -> None:
    world = people(app)
    engagement, advisor, lead = world.engagement, world.advisor, world.lead
    eid = engagement.id
    url = f"/api/engagements/{eid}/variations"
    body = {"kind": "calendar", "reference": "Letter", "agreed_on": "2024-08-01"}
    refused = lead.post(url, json=body)
    assert refused.status_code == 404 and variation_rows(app, eid) == 0
    assert len(events(app, eid, "decide_submission", "denied")) == 1  # refused as not found, audited
    made = advisor.post(url, json=body).json()
    assert lead.delete(f"{url}/{made['id']}").status_code == 404
    assert len(events(app, eid, "decide_submission", "denied")) == 2
    assert [v["id"] for v in lead.get(url).json()["variations"]] == [made["id"]]  # still in force


def test_a_written_direction_clears_must_cease_processing(app: FastAPI) -> None:
    # Para 5.5: a change not implemented by its agreed date (Friday 31 January 2025) means "cease
    # using the Information Management System to Process Authority Data ... unless directed
    # otherwise by the Authority in writing".
    world = people(app)
    engagement, advisor, lead = world.engagement, world.advisor, world.lead
    eid = engagement.id
    entry = make_register_entry(app.state.engine, engagement)
    with session_scope(app.state.engine, write=True) as session:
        row = session.get(RegisterEntry, entry)
        assert row is not None
        row.agreed_on = date(2025, 1, 31)
        session.add(row)
        session.commit()
    with world.at("2025-02-03", app):
        reasons = lead.get(f"/api/engagements/{eid}/readiness").json()["reasons"]
        assert any("Must cease processing buyer data" in r and "para 5.5" in r for r in reasons)
        directed = advisor.post(
            f"/api/engagements/{eid}/variations",
            json={
                "kind": "direction",
                "object_id": entry,
                "reference": "Direction letter DL-7",
                "agreed_on": "2025-02-03",
            },
        )
        assert directed.status_code == 201, directed.text
        assert directed.json()["clause"] == "Schedule 2.4 para 5.5"
        reasons = lead.get(f"/api/engagements/{eid}/readiness").json()["reasons"]
        assert not any("Must cease processing" in r for r in reasons)
        still = deadlines(lead, eid)["register_entry_due"][0]
        assert still["state"] == "overdue" and still["variation"]["kind"] == "direction"
        assert still["variation"]["reference"] == "Direction letter DL-7"


def test_an_expired_certificate_creates_the_6_6_notice_by_itself(app: FastAPI) -> None:
    # Para 6.6 "within two (2) Working Days, if the Supplier or any Sub-contractor ceases to be
    # compliant": Cyber Essentials Plus issued 24 December 2025 expires Thursday 24 December 2026
    # (12 months). 25 Christmas, 28 Boxing Day substitute, 29 (1), 30 (2): due Wednesday 30 December.
    world = people(app)
    lead, eid = world.lead, world.engagement.id
    make_certificate(app.state.engine, world.supplier, "cyber_essentials_plus", issued_on=date(2025, 12, 24))
    make_certificate(app.state.engine, world.supplier, "iso27001", issued_on=date(2025, 1, 6))  # current
    with world.at("2026-12-31", app):
        due = deadlines(lead, eid)
        (notice,) = due["certification_notice_due"]
        assert (notice["due_on"], notice["clause"], notice["state"], notice["party"]) == (
            "2026-12-30",
            "Schedule 2.4 para 6.6",
            "overdue",
            "supplier",
        )
        assert "6.1(b)" in notice["rule"] and "Cyber Essentials Plus" in notice["subject"]
        assert "register_update_due" not in due and "change_notice_due" not in due
        filed = lead.post(
            f"/api/engagements/{eid}/change-notices",
            json={"event": "certification", "description": "CE Plus lapsed", "aware_date": "2026-12-24"},
        )
        assert filed.status_code == 201 and filed.json()["late"] is True  # filed a day after the 30th
        due = deadlines(lead, eid)
        assert [(d["state"], d["late"]) for d in due["certification_notice_due"]] == [("met", True)]
        assert "register_update_due" not in due  # para 6.6 imposes no register update
        register = lead.get(f"/api/engagements/{eid}/plan").json()["register"]
        assert [e for e in register if e["source"] == "change_notice"] == []


def _buyer_of(app: FastAPI, engagement: Engagement) -> Organisation:
    with session_scope(app.state.engine) as session:
        org = session.get(Organisation, engagement.buyer_org_id)
        assert org is not None
        return org


def test_a_renewed_certificate_or_a_call_off_engagement_has_no_6_6_notice(app: FastAPI) -> None:
    world = people(app)
    engine = app.state.engine
    make_certificate(engine, world.supplier, "cyber_essentials_plus", issued_on=date(2025, 12, 24))
    make_certificate(engine, world.supplier, "cyber_essentials_plus", issued_on=date(2026, 12, 10))
    call_off = make_engagement(engine, _buyer_of(app, world.engagement), world.supplier)
    with session_scope(engine, write=True) as session:
        row = session.get(Engagement, call_off.id)
        assert row is not None
        row.workflow_profile = "call-off-schedule-7"
        session.add(row)
        session.commit()
    make_certificate(engine, world.supplier, "iso27001", issued_on=date(2023, 12, 1))  # lapses 2026-12-01
    with world.at("2026-12-31", app):
        renewed = deadlines(world.lead, world.engagement.id)["certification_notice_due"]
        # CE Plus was renewed before it expired; the ISO/IEC 27001 lapse (6.1(a)) is the only notice.
        assert [("6.1(a)" in d["rule"], d["due_on"]) for d in renewed] == [(True, "2026-12-03")]
        assert "certification_notice_due" not in deadlines(world.lead, call_off.id)


@pytest.mark.parametrize(
    ("form", "target_clause", "revision_clause"),
    [
        (
            CallOffForm.SHORT,
            "Call Off Schedule 7 short form para 4.3.2",
            "Call Off Schedule 7 short form para 4.3.2",
        ),
        (
            CallOffForm.LONG,
            "Call Off Schedule 7 long form para 4.3",
            "Call Off Schedule 7 long form para 4.3",
        ),
    ],
)
def test_a_call_off_resubmission_inside_10_working_days_is_never_overdue_on_arrival(
    app: FastAPI, form: CallOffForm, target_clause: str, revision_clause: str
) -> None:
    # The review's example: first submission Tuesday 1 December 2026, rejection Friday 18 December,
    # resubmission Tuesday 5 January 2027. Target: 15 Working Days from the first submission, 22
    # December (Dec 2-4, 7-11, 14-18, 21, 22). Revision: 10 Working Days from the rejection, 6 January
    # (Dec 21-24, 29-31, Jan 4-6; Christmas, the Boxing Day substitute and New Year's Day skipped).
    eid, lead, advisor = setup(app, "call-off-schedule-7")
    with session_scope(app.state.engine, write=True) as session:
        row = session.get(Engagement, eid)
        assert row is not None
        row.effective_on, row.call_off_form = date(2026, 11, 16), form
        session.add(row)
        session.commit()
    supplier, buyer = TestClient(app), TestClient(app)
    with on("2026-12-01", app, (supplier, lead), (buyer, advisor)):
        fill_plan(supplier, app, eid)
        v1 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert v1.status_code == 201, v1.text
        (queued,) = buyer.get("/api/reviews").json()["reviews"]
        assert (queued["decision_due"], queued["state"]) == ("2026-12-22", "due")
    with on("2026-12-18", app, (supplier, lead), (buyer, advisor)):
        rejected = buyer.post(
            f"/api/submissions/{v1.json()['id']}/decision", json={"decision": "reject", "reasons": "Gaps."}
        )
        assert rejected.status_code == 200, rejected.text
    with on("2027-01-05", app, (supplier, lead), (buyer, advisor)):
        v2 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert v2.status_code == 201, v2.text
        due = deadlines(buyer, eid)
        assert "decision_due" not in due
        (target,) = due["approval_target"]
        assert (target["due_on"], target["state"], target["party"], target["target"], target["clause"]) == (
            "2026-12-22",
            "passed",
            "joint",
            True,
            target_clause,
        )
        (revision,) = due["revision_due"]
        assert (revision["due_on"], revision["state"], revision["late"], revision["clause"]) == (
            "2027-01-06",
            "met",
            False,
            revision_clause,
        )
        plan_deadlines = [d for kind, found in due.items() if kind != "isms_due" for d in found]
        assert not [d for d in plan_deadlines if d["state"] == "overdue"]
        # The advisors' queue orders v2 by the cycle's target, says so, and counts nothing overdue.
        (queued,) = buyer.get("/api/reviews").json()["reviews"]
        assert (queued["version"], queued["decision_due"], queued["state"]) == (2, "2026-12-22", "passed")
        page = buyer.get("/reviews").text
        assert "0 overdue" in page and "Target, not a deadline" in page


def test_the_engagement_records_its_call_off_form_and_the_deadlines_cite_it(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    admin = sign_in(app, TestClient(app), make_person(engine, keys, "administrator"))
    made = {}
    for form in ("short", "long"):
        body = {
            "reference": f"CO7-{form}",
            "title": "Call off",
            "buyer_org_id": buyer.id,
            "supplier_org_id": supplier.id,
            "effective_date": "2026-12-21",
            "workflow_profile": "call-off-schedule-7",
            "catalogue_ids": ["call-off-schedule-7"],
            "call_off_form": form,
        }
        answer = admin.post("/api/engagements", json=body)
        assert answer.status_code == 201 and answer.json()["call_off_form"] == form, answer.text
        made[form] = answer.json()["id"]
    # 20 Working Days after Monday 21 December 2026, over Christmas, Boxing Day (substitute
    # Monday 28th) and New Year's Day: 22 Dec .. 21 Jan 2027 (both forms count the same days)
    short = plan_due(admin, made["short"])
    long = plan_due(admin, made["long"])
    assert short["due_on"] == long["due_on"] == "2027-01-21"
    assert short["clause"] == "Call Off Schedule 7 short form para 4.3.1"
    assert long["clause"] == "Call Off Schedule 7 long form para 4.1"
    refused = admin.post(
        "/api/engagements",
        json={**body, "reference": "CO7-bad", "call_off_form": "medium"},
    )
    assert refused.status_code == 422
    with session_scope(engine) as session:
        assert session.exec(select(Engagement).where(Engagement.reference == "CO7-bad")).first() is None


def test_the_lead_records_the_isms_submission_and_it_meets_the_isms_deadline(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    contributor = make_person(engine, keys, "supplier_contributor", supplier)
    engagement = make_engagement(engine, buyer, supplier)  # Schedule 2.4: no ISMS
    co7 = make_engagement(engine, buyer, supplier)
    with session_scope(engine, write=True) as session:
        row = session.get(Engagement, co7.id)
        assert row is not None
        row.workflow_profile, row.effective_on = "call-off-schedule-7", date(2026, 6, 1)
        session.add(row)
        session.commit()
    client = sign_in(app, TestClient(app), lead)
    isms = next(
        d
        for d in client.get(f"/api/engagements/{co7.id}/deadlines").json()["deadlines"]
        if d["kind"] == "isms_due"
    )
    assert isms["clause"] == "Call Off Schedule 7 long form para 3.1" and isms["done_on"] is None
    url = f"/api/engagements/{co7.id}/isms-submission"
    assert client.put(url, json={"submitted_on": "2099-01-01"}).status_code == 422  # after today
    assert (
        client.put(
            f"/api/engagements/{engagement.id}/isms-submission", json={"submitted_on": "2026-12-01"}
        ).status_code
        == 422
    )
    other = sign_in(app, TestClient(app), contributor)
    assert other.put(url, json={"submitted_on": "2026-06-26"}).status_code == 404  # leads only, audited
    assert len(events(app, co7.id, "submit_plan", "denied")) == 1
    recorded = client.put(url, json={"submitted_on": "2026-06-26"})
    assert recorded.status_code == 200 and recorded.json()["isms_submitted_on"] == "2026-06-26"
    isms = next(
        d
        for d in client.get(f"/api/engagements/{co7.id}/deadlines").json()["deadlines"]
        if d["kind"] == "isms_due"
    )
    assert isms["state"] == "met" and isms["done_on"] == "2026-06-26" and not isms["late"]
    (event,) = events(app, co7.id, "isms_submitted")
    assert json.loads(event.details)["submitted_on"] == "2026-06-26"
    with session_scope(engine) as session:
        unchanged = session.get(Engagement, engagement.id)
        assert unchanged is not None and unchanged.isms_submitted_on is None
