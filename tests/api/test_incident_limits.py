"""Incident reporting limits follow the contract in scope (issue 13 item 7; contract-fidelity
review section 5, "incident hours"). CPS Security Policy 4.9: trace lost material within 48
hours, report it within 24; Schedule 2.4 (para 10 redacted in the seed) and Call Off Schedule 7
(long form 8.1, short form 5.1: the agreed incident management process) set no hours."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import Engagement, EngagementCatalogue
from tests.factories import make_engagement, make_org, make_person, sign_in

PROCESS = {
    "document": "Incidents are logged, triaged by the duty manager and reported to the buyer.",
    "contacts": [{"name": "Sam Duty", "role": "Duty manager", "email": "duty@northwind.example"}],
}


def engagement_with(app: FastAPI, client: TestClient, profile: str, catalogues: list[str]) -> str:
    engine, keys = app.state.engine, app.state.keys
    supplier = make_org(engine, "supplier")
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    with session_scope(engine, write=True) as session:
        for row in session.exec(
            select(EngagementCatalogue).where(EngagementCatalogue.engagement_id == engagement.id)
        ):
            session.delete(row)
        session.flush()
        for catalogue_id in catalogues:
            session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id=catalogue_id))
        found = session.get(Engagement, engagement.id)
        assert found is not None
        found.workflow_profile = profile
        session.add(found)
        session.commit()
    sign_in(app, client, make_person(engine, keys, "supplier_lead", supplier))
    return engagement.id


@pytest.mark.parametrize(
    ("field", "hours", "limit"), [("report_loss_hours", 25, 24), ("trace_loss_hours", 49, 48)]
)
def test_with_cps_in_scope_slower_hours_are_refused_citing_cps_4_9(
    app: FastAPI, client: TestClient, field: str, hours: int, limit: int
) -> None:
    eid = engagement_with(app, client, "schedule-2-4", ["cps-security-policy", "schedule-2-4"])
    response = client.put(f"/api/engagements/{eid}/incident-process", json={**PROCESS, field: hours})
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert list(details) == [field]
    assert "CPS Security Policy 4.9" in details[field] and f"{limit} hours" in details[field]
    saved = client.put(f"/api/engagements/{eid}/incident-process", json=PROCESS)
    assert saved.status_code == 200  # omitted hours take the CPS maxima
    assert (saved.json()["report_loss_hours"], saved.json()["trace_loss_hours"]) == (24, 48)
    page = client.get(f"/engagements/{eid}/plan")
    assert "CPS Security Policy 4.9 applies" in page.text


@pytest.mark.parametrize(
    ("profile", "catalogues"),
    [
        ("call-off-schedule-7", ["call-off-schedule-7"]),
        ("schedule-2-4", ["schedule-2-4", "iso27001-2022"]),
    ],
    ids=["call-off-schedule-7-only", "schedule-2-4-only"],
)
def test_without_cps_the_agreed_process_stands_with_no_invented_hours(
    app: FastAPI, client: TestClient, profile: str, catalogues: list[str]
) -> None:
    eid = engagement_with(app, client, profile, catalogues)
    slow = client.put(
        f"/api/engagements/{eid}/incident-process",
        json={**PROCESS, "report_loss_hours": 72, "trace_loss_hours": 72},
    )
    assert slow.status_code == 200, slow.text
    assert (slow.json()["report_loss_hours"], slow.json()["trace_loss_hours"]) == (72, 72)
    page = client.get(f"/engagements/{eid}/plan")
    assert "CPS" not in page.text.split('id="incident"')[1].split("</section>")[0]
    none = client.put(
        f"/api/engagements/{eid}/incident-process",
        json={**PROCESS, "expected_version": slow.json()["version"]},
    )
    assert none.status_code == 200
    assert (none.json()["report_loss_hours"], none.json()["trace_loss_hours"]) == (None, None)
    zero = client.put(f"/api/engagements/{eid}/incident-process", json={**PROCESS, "report_loss_hours": 0})
    assert zero.status_code == 422 and list(zero.json()["error"]["details"]) == ["report_loss_hours"]
