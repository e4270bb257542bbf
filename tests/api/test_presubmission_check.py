"""The pre-submission check asks each answer for what the buyer needs to judge it (Schedule 2.4
paras 4.1, 4.3 and the Required Changes Register definition): "met" says how, "partially met" and
"not met" say what will change and by when. Each gap names its control and links to the
engagement's own control page; submitting refuses with 422 and every gap, and changes nothing."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_approval_story import DECLARATION, fill_plan, on, setup


def answer(client: TestClient, eid: str, control_id: str, **body: object) -> None:
    response = client.put(f"/api/engagements/{eid}/responses/{control_id}", json=body)
    assert response.status_code == 200, response.text


def missing(client: TestClient, eid: str) -> dict[str, dict[str, str]]:
    refused = client.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
    assert refused.status_code == 422, refused.text
    return {m["control_id"]: m for m in refused.json()["error"]["details"]["missing"]}


def test_answers_without_a_statement_or_a_plan_block_submission_and_each_links_to_its_control(
    app: FastAPI,
) -> None:
    eid, lead, _advisor = setup(app)
    client = TestClient(app)
    with on("2024-09-02", app, (client, lead)):
        fill_plan(client, app, eid)
        first, second, third, fourth = [  # controls that oblige (not information only)
            c.id
            for c in app.state.library.catalogue("cps-security-policy").controls
            if c.criticality.value != "information"
        ][:4]
        answer(client, eid, first, status="met", statement="   ")
        answer(client, eid, second, status="partially_met", statement="Half done.")
        answer(client, eid, third, status="not_met", planned_change="Buy the tool.")
        answer(client, eid, fourth, status="not_met", target_date="2024-12-02")

        gaps = missing(client, eid)
        assert set(gaps) == {first, second, third, fourth}
        assert gaps[first]["code"] == "no_statement" and gaps[first]["target"] == "control"
        assert "without an implementation statement" in gaps[first]["message"]
        assert gaps[second]["code"] == "no_plan"
        assert "partially met without a planned change or a target date" in gaps[second]["message"]
        assert "not met without a target date" in gaps[third]["message"]
        assert "not met without a planned change" in gaps[fourth]["message"]
        assert client.get(f"/api/engagements/{eid}/submissions").json() == {"submissions": []}

        # The plan page lists each gap with a link to the engagement's own control page.
        page = client.get(f"/engagements/{eid}/plan")
        assert page.status_code == 200
        for control_id in (first, second, third, fourth):
            assert f'href="/engagements/{eid}/controls/{control_id}"' in page.text, control_id
        assert f"{second} is partially met without a planned change or a target date" in page.text

        # Supplying what each lacks clears the gaps: the plan then goes in.
        answer(client, eid, first, status="met", statement="Enforced by the gateway.")
        plan = {"planned_change": "Finish the rollout.", "target_date": "2024-12-02"}
        answer(client, eid, second, status="partially_met", statement="Half done.", **plan)
        answer(client, eid, third, status="not_met", **plan)
        answer(client, eid, fourth, status="not_met", **plan)
        submitted = client.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert submitted.status_code == 201, submitted.text
        assert len(client.get(f"/api/engagements/{eid}/submissions").json()["submissions"]) == 1


def test_not_applicable_needs_no_statement_and_met_needs_no_plan(app: FastAPI) -> None:
    eid, lead, _advisor = setup(app)
    client = TestClient(app)
    with on("2024-09-02", app, (client, lead)):
        fill_plan(client, app, eid)
        controls = [c.id for c in app.state.library.catalogue("cps-security-policy").controls]
        answer(client, eid, controls[0], status="not_applicable", justification="No premises.")
        submitted = client.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert submitted.status_code == 201, submitted.text


def test_controls_for_information_only_need_no_answer_before_submission(app: FastAPI) -> None:
    """CPS-1.4, 2.2 and 3.2 inform rather than oblige (issue 13 item 9: criticality
    `information`, weight 0, never a blocker): the pre-submission check does not ask for them,
    as readiness does not count them."""
    eid, lead, _advisor = setup(app)
    client = TestClient(app)
    controls = app.state.library.catalogue("cps-security-policy").controls
    information = {c.id for c in controls if c.criticality.value == "information"}
    assert information >= {"CPS-1.4", "CPS-2.2", "CPS-3.2"}
    with on("2024-09-02", app, (client, lead)):
        fill_plan(client, app, eid)
        for control_id in information:  # take their answers back out: a fresh engagement's state
            answer(client, eid, control_id, status="met", statement="In place.")
        gaps = missing_after_removing(app, client, eid, information)
        assert not set(gaps) & information
        submitted = client.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert submitted.status_code == 201, submitted.text


def missing_after_removing(app: FastAPI, client: TestClient, eid: str, control_ids: set[str]) -> list[str]:
    """Delete the answers to `control_ids` (as if never given) and list what the check names."""
    from sqlmodel import delete

    from app.db import session_scope
    from app.models import ControlResponse

    with session_scope(app.state.engine, write=True) as session:
        session.exec(  # type: ignore[call-overload]
            delete(ControlResponse).where(
                ControlResponse.engagement_id == eid,
                ControlResponse.control_id.in_(control_ids),  # type: ignore[attr-defined]
            )
        )
        session.commit()
    check = client.get(f"/api/engagements/{eid}/plan")
    assert check.status_code == 200, check.text
    return [m["control_id"] for m in check.json().get("missing", []) if m.get("control_id")]
