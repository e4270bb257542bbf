"""Issue 17 item 2 for the plan's registers: the risk register and the Required Changes Register
from a spreadsheet. Attest's own export imported into a twin engagement gives every field of
every risk and entry back, and imported again changes nothing; a sheet with other headings and
deliberate errors shows every error in the dry run and writes nothing; the confirmed import
writes through the plan's rules and audits each change as an import; a plan awaiting the buyer's
decision refuses imports; the page checks then imports. Runs on PostgreSQL too (the `app`
fixture)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.domain.workflow import State
from app.models import AuditEvent, Engagement, PlanCase, RegisterEntry, Risk
from tests.api.test_import_answers import count, twin
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

RISK_FIELDS = (
    "title", "description", "control_ids", "likelihood", "impact", "treatment", "owner",
    "residual_likelihood", "residual_impact",
)  # fmt: skip
ENTRY_FIELDS = ("title", "description", "source", "control_id", "agreed_on", "implemented_on", "status")


def risks(app: FastAPI, engagement_id: str) -> dict[str, tuple[str, ...]]:
    with session_scope(app.state.engine) as session:
        rows = session.exec(select(Risk).where(Risk.engagement_id == engagement_id))
        return {r.title: tuple(str(getattr(r, f)) for f in RISK_FIELDS) for r in rows}


def entries(app: FastAPI, engagement_id: str) -> dict[str, tuple[str, ...]]:
    with session_scope(app.state.engine) as session:
        rows = session.exec(select(RegisterEntry).where(RegisterEntry.engagement_id == engagement_id))
        return {e.title: tuple(str(getattr(e, f)) for f in ENTRY_FIELDS) for e in rows}


def send(
    client: TestClient,
    engagement_id: str,
    kind: str,
    data: bytes | None,
    *,
    dry_run: bool = False,
    **fields: str,
) -> httpx.Response:
    files = {"file": ("sheet.xlsx", data)} if data is not None else {"none": ("", b"")}
    return client.post(
        f"/api/engagements/{engagement_id}/import/{kind}",
        params={"dry_run": "true"} if dry_run else None,
        data=fields,
        files=files,
    )


def lead_setup(app: FastAPI) -> tuple[TestClient, Engagement, Person]:
    engine = app.state.engine
    supplier = make_org(engine, "supplier", "Northwind Data Ltd")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    return sign_in(app, TestClient(app), lead), engagement, lead


def filled(app: FastAPI) -> tuple[TestClient, Engagement, Person]:
    """A plan with risks and entries of every shape, made through the API as a lead makes them."""
    client, engagement, lead = lead_setup(app)
    base = f"/api/engagements/{engagement.id}"
    made = [
        client.post(f"{base}/risks", json={
            "title": "Laptop theft", "description": "A laptop left on a train.",
            "control_ids": ["CPS-1.1", "CPS-1.2"],
            "likelihood": 4, "impact": 5, "treatment": "Full-disk encryption", "owner": "IT manager",
            "residual_likelihood": 2, "residual_impact": 3,
        }),
        client.post(f"{base}/risks", json={
            "title": "Phishing", "likelihood": 3, "impact": 3, "owner": lead.user.email,
            "residual_likelihood": 1, "residual_impact": 2,
        }),
        client.post(f"{base}/register", json={
            "title": "Replace the VPN gateway", "description": "End of support in May.",
            "control_id": "CPS-1.1",
            "agreed_date": "2026-05-29", "status": "in_progress",
        }),
        client.post(f"{base}/register", json={
            "title": "Turn on MFA", "agreed_date": "2025-11-03", "implemented_date": "2025-11-20",
            "status": "implemented",
        }),
        client.post(f"{base}/register", json={"title": "Write the leavers' checklist"}),
    ]  # fmt: skip
    assert [r.status_code for r in made] == [201] * 5, [r.text for r in made]
    return client, engagement, lead


def test_the_export_imported_into_a_twin_gives_every_risk_and_entry_back(app: FastAPI) -> None:
    client, engagement, _lead = filled(app)
    before = {"risks": risks(app, engagement.id), "register": entries(app, engagement.id)}
    read = {"risks": risks, "register": entries}
    sheet = client.get(f"/api/engagements/{engagement.id}/export.xlsx")
    assert sheet.status_code == 200
    target = twin(app, engagement)
    for kind in ("risks", "register"):
        dry = send(client, target.id, kind, sheet.content, dry_run=True)
        assert dry.status_code == 200, dry.text
        result = dry.json()
        assert result["errors"] == 0 and result["mapping_problems"] == {}, result
        assert {r["title"] for r in result["rows"] if r["change"] == "new"} == set(before[kind])
        assert read[kind](app, target.id) == {}  # a dry run writes nothing
        done = send(client, target.id, kind, sheet.content)
        assert done.status_code == 200, done.text
        assert read[kind](app, target.id) == before[kind], kind  # every field of every row
        again = send(client, target.id, kind, sheet.content, dry_run=True).json()
        assert again["changes"] == 0 and again["errors"] == 0, again  # twice: nothing changes
        # and into the engagement it came from, nothing changes either
        same = send(client, engagement.id, kind, sheet.content, dry_run=True).json()
        assert same["changes"] == 0 and {r["change"] for r in same["rows"]} == {"unchanged"}
    assert count(app, AuditEvent, action="risks_imported", engagement_id=target.id) == 1
    assert count(app, AuditEvent, action="register_entries_imported", engagement_id=target.id) == 1


RISK_SHEET = (
    "Risk name,Probability,Severity,Residual probability,Residual severity,Mitigation,Risk owner,"
    "Related controls\n"
    "Phishing,3,4,2,2,Training,{email},CPS-1.1\n"
    "Flood,6,2,1,1,,,\n"
    "Fire,two,2,1,1,,,\n"
    "Theft,2,2,1,1,,nobody@example.org,\n"
    "Spill,2,2,1,1,,,XX-9\n"
    "phishing ,1,1,1,1,,,\n"
)
REGISTER_SHEET = (
    "Required change,State,Agreed date,Completed on,Control ID,Details\n"
    "Patch the VPN,in progress,2026-03-31,,CPS-1.1,Vendor fix\n"
    "Rotate keys,finished,,,,\n"
    "Encrypt backups,planned,31/13/2026,,,\n"
    "Audit access,implemented,,,,\n"
    "Turn on MFA,planned,,,ZZ-1,\n"
    "Close the old site,planned,,2026-01-05,,\n"
)


def test_other_headings_and_every_error_in_the_dry_run_and_nothing_written(app: FastAPI) -> None:
    client, engagement, lead = lead_setup(app)
    sheet = RISK_SHEET.format(email=lead.user.email).encode()
    for dry_run in (True, False):
        response = send(client, engagement.id, "risks", sheet, dry_run=dry_run)
        result = response.json() if dry_run else response.json()["error"]["details"]
        assert response.status_code == (200 if dry_run else 422), response.text
        by_row = {r["row"]: r for r in result["rows"]}
        assert by_row[2]["change"] == "new" and by_row[2]["values"]["owner"] == lead.user.email
        assert by_row[2]["values"]["treatment"] == "Training" and by_row[2]["values"]["likelihood"] == 3
        assert by_row[3]["errors"] == ["Likelihood “6” is not a whole number from 1 to 5."]
        assert by_row[4]["errors"] == ["Likelihood “two” is not a whole number from 1 to 5."]
        assert by_row[5]["errors"] == ["nobody@example.org is not a member of the supplier's organisation."]
        assert by_row[6]["errors"] == ["Not controls of this engagement: XX-9."]
        assert by_row[7]["errors"] == ["“phishing” is already in row 2."]
        assert result["errors"] == 5
    assert risks(app, engagement.id) == {}
    sheet = REGISTER_SHEET.encode()
    for dry_run in (True, False):
        response = send(client, engagement.id, "register", sheet, dry_run=dry_run)
        result = response.json() if dry_run else response.json()["error"]["details"]
        by_row = {r["row"]: r for r in result["rows"]}
        assert by_row[2]["change"] == "new", by_row[2]
        assert by_row[2]["values"] | {} == {
            "title": "Patch the VPN", "description": "Vendor fix", "source": "", "control_id": "CPS-1.1",
            "agreed_on": "2026-03-31", "implemented_on": None, "status": "in_progress",
        }  # fmt: skip
        assert by_row[3]["errors"] == ["“finished” is not a status: use planned, in progress or implemented."]
        assert by_row[4]["errors"] == ["“31/13/2026” is not a date: write it as 2026-03-31 or 31/03/2026."]
        assert by_row[5]["errors"] == ["An implemented change needs the date it was implemented."]
        assert by_row[6]["errors"] == ["ZZ-1 is not a control of this engagement."]
        assert by_row[7]["errors"] == ["A change with an implemented date has the status implemented."]
        assert result["errors"] == 5
    assert entries(app, engagement.id) == {}
    assert count(app, AuditEvent, action="risks_imported") == 0
    assert count(app, AuditEvent, action="register_entries_imported") == 0


def audit_details(app: FastAPI, action: str, engagement_id: str) -> list[dict[str, Any]]:
    with session_scope(app.state.engine) as session:
        query = select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.engagement_id == engagement_id
        )
        return [json.loads(e.details or "{}") for e in session.exec(query)]


def test_the_confirmed_import_changes_the_plan_through_its_rules_and_audits_each_change(app: FastAPI) -> None:
    client, engagement, lead = filled(app)
    sheet = (
        b"Risk,Likelihood,Impact,Residual likelihood,Residual impact,Owner\n"
        b"laptop  THEFT,4,5,1,1,IT manager\n"  # the existing risk, by title: its residual scores change
        b"Supplier insolvency,2,4,2,3,Finance director\n"
    )
    dry = send(client, engagement.id, "risks", sheet, dry_run=True).json()
    assert [(r["title"], r["change"]) for r in dry["rows"]] == [
        ("laptop THEFT", "changed"),
        ("Supplier insolvency", "new"),
    ]
    done = send(client, engagement.id, "risks", None, sha256=dry["sha256"])  # the draft, not sent again
    assert done.status_code == 200, done.text
    after = risks(app, engagement.id)
    assert set(after) == {"laptop THEFT", "Phishing", "Supplier insolvency"}
    assert after["laptop THEFT"][7:] == ("1", "1")
    # the columns this sheet does not have (description, controls, treatment) keep the plan's values
    assert after["laptop THEFT"][1:3] == ("A laptop left on a train.", "CPS-1.1 CPS-1.2")
    assert after["Supplier insolvency"][3:5] == ("2", "4")
    saved = [d for d in audit_details(app, "risk_saved", engagement.id) if "imported" in d]
    assert sorted(d["change"] for d in saved) == ["changed", "new"]
    assert {d["imported"] for d in saved} == {dry["sha256"]}
    (summary,) = audit_details(app, "risks_imported", engagement.id)
    assert summary == {"sha256": dry["sha256"], "changed": ["laptop THEFT", "Supplier insolvency"]}
    with session_scope(app.state.engine) as session:
        (changed,) = session.exec(select(Risk).where(Risk.title == "laptop THEFT"))
        assert changed.version == 2 and changed.updated_by_id == lead.user.id
    # an entry keeps where it came from: a sheet may not turn a typed-in entry into a gap
    register = b"Change,Source,Status\nTurn on MFA,gap,planned\n"
    refused = send(client, engagement.id, "register", register, dry_run=True).json()
    assert refused["rows"][0]["errors"] == [
        "“Turn on MFA” came from manual: an import cannot change where an entry came from."
    ]
    # a contributor does not keep the plan: refused as the plan's own forms refuse them (404)
    contributor = make_person(app.state.engine, app.state.keys, "supplier_contributor", lead.organisation)
    outsider = sign_in(app, TestClient(app), contributor)
    assert send(outsider, engagement.id, "risks", sheet, dry_run=True).status_code in (403, 404)


def test_headings_it_cannot_read_are_chosen_and_remembered(app: FastAPI) -> None:
    client, engagement, _lead = lead_setup(app)
    sheet = b"Hazard,L,I,RL,RI\nPower cut,2,3,1,2\n"
    first = send(client, engagement.id, "risks", sheet, dry_run=True).json()
    assert set(first["mapping_problems"]) == {
        "title",
        "likelihood",
        "impact",
        "residual_likelihood",
        "residual_impact",
    }
    columns = {
        "column_title": "Hazard", "column_likelihood": "L", "column_impact": "I",
        "column_residual_likelihood": "RL", "column_residual_impact": "RI",
    }  # fmt: skip
    chosen = send(client, engagement.id, "risks", sheet, dry_run=True, **columns).json()
    assert chosen["mapping_problems"] == {} and chosen["changes"] == 1
    again = send(client, engagement.id, "risks", sheet, dry_run=True).json()
    assert again["remembered"] is True and again["changes"] == 1
    # the choices are for risk sheets: an answers import of the same headings does not use them
    answers = client.post(
        f"/api/engagements/{engagement.id}/import",
        params={"dry_run": "true"},
        files={"file": ("a.csv", sheet)},
    ).json()
    assert answers["remembered"] is False and answers["mapping_problems"]


def test_a_plan_awaiting_the_buyers_decision_refuses_imports(app: FastAPI) -> None:
    client, engagement, _lead = filled(app)
    before = risks(app, engagement.id)
    with session_scope(app.state.engine, write=True) as session:
        session.add(PlanCase(engagement_id=engagement.id, state=State.SUBMITTED, cycle=1))
        session.commit()
    sheet = b"Risk,Likelihood,Impact,Residual likelihood,Residual impact\nFlood,1,1,1,1\n"
    for kind, dry_run in (("risks", True), ("risks", False), ("register", True)):
        refused = send(client, engagement.id, kind, sheet, dry_run=dry_run)
        assert refused.status_code == 409, refused.text
        assert "with the buyer for a decision" in refused.json()["error"]["message"]
    assert risks(app, engagement.id) == before
    page = client.post(
        f"/engagements/{engagement.id}/plan/import/risks/check", files={"file": ("risks.csv", sheet)}
    )
    assert page.status_code == 409 and "with the buyer for a decision" in page.text


def test_the_import_page_checks_then_imports(app: FastAPI) -> None:
    client, engagement, _lead = lead_setup(app)
    plan_page = client.get(f"/engagements/{engagement.id}/plan")
    assert f"/engagements/{engagement.id}/plan/import/register" in plan_page.text
    form = client.get(f"/engagements/{engagement.id}/plan/import/register")
    assert form.status_code == 200 and 'id="import-form"' in form.text
    bad = b"Change,Status\nPatch,planned\nRotate,someday\n"
    checked = client.post(
        f"/engagements/{engagement.id}/plan/import/register/check", files={"file": ("r.csv", bad)}
    )
    assert (
        checked.status_code == 200 and "1 change would be added or changed; 1 row has errors" in checked.text
    )
    assert 'id="confirm-import"' not in checked.text and "“someday” is not a status" in checked.text
    good = b"Change,Status\nPatch,planned\n"
    checked = client.post(
        f"/engagements/{engagement.id}/plan/import/register/check", files={"file": ("r.csv", good)}
    )
    assert 'id="confirm-import"' in checked.text and entries(app, engagement.id) == {}
    sha = checked.text.split('name="sha256" value="')[1].split('"')[0]
    done = client.post(
        f"/engagements/{engagement.id}/plan/import/register", data={"sha256": sha}, files={"x": ("", b"")}
    )
    assert done.status_code == 200 and "1 change imported into the Required Changes Register." in done.text
    assert entries(app, engagement.id)["Patch"] == ("Patch", "", "manual", "None", "None", "None", "planned")
    refused = client.post(
        f"/engagements/{engagement.id}/plan/import/risks/check", files={"file": ("a.pdf", b"%PDF-1.4")}
    )
    assert refused.status_code == 415 and "not a spreadsheet" in refused.text
