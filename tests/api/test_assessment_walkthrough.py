"""A supplier lead answers, uploads and links through the API; readiness matches a hand computation.

A small catalogue (controls/ replaced by a test folder) makes the arithmetic visible:

    control  weight  answer                          evidence              credit  earned
    MINI-1   1       met                             current               1       1
    MINI-2   2       met                             expired -> half       0.5     1
    MINI-3   1       partially met                   (not required)        0.5     0.5
    MINI-4   1       not applicable + justification  -                     leaves the denominator
    MINI-5   1       unanswered                      -                     0       0
    MINI-6   gate    met                             expired               blocker, never scored
    MINI-7   1       out of scope (no removable media)                     not counted
    possible = 1 + 2 + 1 + 1 = 5, earned = 2.5, score = 50.0
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import clock
from app.main import create_app
from tests.conftest import CONTROLS, make_settings
from tests.factories import make_engagement, make_org, make_person, sign_in

MINI = """
[catalogue]
id = "mini"
title = "Mini catalogue"
version = "1"
source = "test"
kind = "framework"
description = "A small catalogue for hand-computed readiness."
id_prefix = "MINI"
source_clauses = ["1", "2", "3", "4", "5", "6", "7"]

[[sections]]
id = "a"
title = "Section A"

[[sections]]
id = "b"
title = "Section B"
""" + "".join(
    f"""
[[controls]]
id = "MINI-{n}"
section = "{section}"
title = "Control {n}"
requirement = "Do thing {n}."
source = "test {n}"
clauses = ["{n}"]
evidence = "Something that shows thing {n} is done."
evidence_required = {required}
criticality = "{criticality}"
{extra}
"""
    for n, section, required, criticality, extra in [
        (1, "a", "true", "normal", ""),
        (2, "a", "true", "high", ""),
        (3, "a", "false", "normal", ""),
        (4, "b", "true", "normal", ""),
        (5, "b", "true", "normal", ""),
        (6, "b", "true", "gate", ""),
        (7, "b", "true", "normal", 'applies_if = "uses_removable_media"'),
    ]
)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def mini_app(tmp_path: Path, database_url: str) -> FastAPI:
    controls = tmp_path / "controls"
    controls.mkdir()
    (controls / "scoping.toml").write_text((CONTROLS / "scoping.toml").read_text())
    (controls / "mini.toml").write_text(MINI)
    app = create_app(make_settings(tmp_path, database_url, controls_dir=controls))
    yield app
    app.state.engine.dispose()


def upload(
    client: TestClient, engagement_id: str, name: str, expires: date | None, controls: list[str]
) -> dict:
    data = {"title": name, "kind": "certificate", "control_ids": controls}
    if expires:
        data["expires_on"] = expires.isoformat()
    response = client.post(
        f"/api/engagements/{engagement_id}/evidence",
        data=data,
        files={"file": (f"{name}.pdf", PDF + name.encode())},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_walkthrough_matches_the_hand_computed_readiness(mini_app: FastAPI) -> None:
    app, engine, keys = mini_app, mini_app.state.engine, mini_app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    with TestClient(app) as client, TestClient(app) as buyer_client:
        engagement = make_engagement(engine, buyer, supplier)
        from sqlmodel import delete

        from app.db import session_scope
        from app.models import EngagementCatalogue

        with session_scope(engine, write=True) as session:
            session.exec(
                delete(EngagementCatalogue).where(EngagementCatalogue.engagement_id == engagement.id)
            )
            session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id="mini"))
            session.commit()
        sign_in(app, client, lead)
        eid = engagement.id
        today = clock.today()
        assert (
            client.put(
                f"/api/engagements/{eid}/scoping", json={"answers": {"uses_removable_media": False}}
            ).status_code
            == 200
        )
        for control, body in [
            ("MINI-1", {"status": "met", "statement": "Done."}),
            ("MINI-2", {"status": "met", "statement": "Done, old certificate."}),
            (
                "MINI-3",
                {"status": "partially_met", "planned_change": "Finish it", "target_date": "2027-01-31"},
            ),
            ("MINI-4", {"status": "not_applicable", "justification": "We hold no such systems."}),
            ("MINI-6", {"status": "met"}),
        ]:
            response = client.put(f"/api/engagements/{eid}/responses/{control}", json=body)
            assert response.status_code == 200, response.text
        refused = client.put(f"/api/engagements/{eid}/responses/MINI-5", json={"status": "not_applicable"})
        assert refused.status_code == 422
        assert "justification" in refused.json()["error"]["details"]
        current = upload(client, eid, "current", today + timedelta(days=200), ["MINI-1"])
        upload(client, eid, "expired", today - timedelta(days=1), ["MINI-2", "MINI-6"])
        soon = upload(client, eid, "soon", today + timedelta(days=10), ["MINI-4"])

        readiness = client.get(f"/api/engagements/{eid}/readiness").json()
        assert readiness["score"] == 50.0
        assert readiness["earned"] == 2.5 and readiness["possible"] == 5
        assert readiness["counts"] == {
            "met": 3,
            "partially_met": 1,
            "not_met": 0,
            "not_applicable": 1,
            "unanswered": 1,
            "out_of_scope": 1,
        }
        # one list: the engagement's Schedule 2.4 preconditions (make_engagement's profile), then the gate
        assert [(b["kind"], b["clause"], b["control_id"]) for b in readiness["blockers"]] == [
            ("certificate", "Schedule 2.4 para 6.1(a)", ""),
            ("certificate", "Schedule 2.4 para 6.1(b)", ""),
            ("certificate", "Schedule 2.4 para 4.2(a)", ""),
            ("isas", "Schedule 2.4 para 4.2(b)", ""),
            ("control", "test 6", "MINI-6"),
        ]
        assert "expired" in readiness["blockers"][-1]["reason"]
        assert readiness["reasons"] == [b["message"] for b in readiness["blockers"]]
        assert [e["evidence_id"] for e in readiness["expiring"]] == [soon["id"]]
        assert readiness["may_process_buyer_data"] is False
        by_control = {c["control_id"]: c for c in readiness["controls"]}
        assert by_control["MINI-2"]["earned"] == 1.0 and "half" in by_control["MINI-2"]["reason"]
        assert sum(c["earned"] for c in readiness["controls"]) == readiness["earned"]
        sections = readiness["catalogues"][0]["sections"]
        assert [(s["id"], s["earned"], s["possible"]) for s in sections] == [("a", 2.5, 4), ("b", 0.0, 1)]

        # The buyer sees the same figures, and may read linked evidence only.
        sign_in(app, buyer_client, advisor)
        assert buyer_client.get(f"/api/engagements/{eid}/readiness").json()["score"] == 50.0
        assert buyer_client.get(f"/api/evidence/{current['id']}/content").content.startswith(b"%PDF")
        assert (
            buyer_client.put(f"/api/engagements/{eid}/responses/MINI-5", json={"status": "met"}).status_code
            == 404
        )


def test_history_keeps_every_change(client: TestClient, app: FastAPI, keys) -> None:
    engine = app.state.engine
    lead_org = make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", lead_org)
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead_org)
    sign_in(app, client, lead)
    url = f"/api/engagements/{engagement.id}/responses/CPS-1.1"
    first = client.put(
        url, json={"status": "not_met", "planned_change": "Write it", "target_date": "2027-03-01"}
    )
    second = client.put(url, json={"status": "met", "statement": "Written.", "expected_version": 1})
    stale = client.put(url, json={"status": "partially_met", "expected_version": 1})
    assert first.status_code == second.status_code == 200
    assert stale.status_code == 409
    page = client.get(f"/engagements/{engagement.id}/controls/CPS-1.1")
    assert "not_met → met" in page.text and "unanswered → not_met" in page.text


def test_applying_an_answer_to_mapped_controls_is_explicit(client: TestClient, app: FastAPI, keys) -> None:
    from tests.factories import csrf_token

    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    from app.db import session_scope
    from app.models import EngagementCatalogue

    with session_scope(engine, write=True) as session:
        session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id="iso27001-2022"))
        session.commit()
    sign_in(app, client, lead)
    client.put(
        f"/api/engagements/{engagement.id}/responses/CPS-5.7", json={"status": "met", "statement": "JML"}
    )
    page = client.get(f"/engagements/{engagement.id}/controls/CPS-5.7")
    assert "ISO-A.5.18" in page.text and 'id="apply-mapped"' in page.text
    before = client.get(f"/api/engagements/{engagement.id}/readiness").json()["counts"]["met"]
    assert before == 1  # nothing was applied silently
    response = client.post(
        f"/engagements/{engagement.id}/controls/CPS-5.7/apply-mapped",
        data={"targets": ["ISO-A.5.18"], "csrf_token": csrf_token(app, client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    after = client.get(f"/api/engagements/{engagement.id}/readiness").json()
    assert after["counts"]["met"] == 2
