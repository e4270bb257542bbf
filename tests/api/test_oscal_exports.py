"""Issue 17 item 6 (export side): an engagement as an OSCAL 1.1 System Security Plan, its
assessment as Assessment Results, and its gaps with the Required Changes Register as a Plan of
Action and Milestones, each validated with compliance-trestle's models and each referring to
the catalogue exports by href."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.poam import PlanOfActionAndMilestones
from trestle.oscal.profile import Profile
from trestle.oscal.ssp import SystemSecurityPlan

from app.db import session_scope
from app.models import Engagement, RegisterEntry
from tests.factories import (
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    sign_in,
)


@dataclass
class Assessed:
    engagement: Engagement
    client: TestClient
    evidence_id: str


def assessed(app: FastAPI) -> Assessed:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier", "Harbour Systems Ltd"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    with session_scope(engine, write=True) as session:
        session.add(
            RegisterEntry(
                engagement_id=engagement.id, title="Move backups off site", source="manual",
                agreed_on=date(2025, 3, 31), updated_by_id=lead.user.id,
            )
        )  # fmt: skip
        session.add(
            RegisterEntry(
                engagement_id=engagement.id, title="Done already", source="manual", status="implemented",
                updated_by_id=lead.user.id,
            )
        )  # fmt: skip
        session.commit()
    client = sign_in(app, TestClient(app), lead)
    base = f"/api/engagements/{engagement.id}/responses"
    met = {"status": "met", "statement": "Every starter is vetted to BPSS."}
    assert client.put(f"{base}/CPS-1.1", json=met).status_code == 200
    gap = {
        "status": "not_met",
        "statement": "Refresher training has not started.",
        "planned_change": "Run annual refresher training",
        "target_date": "2025-06-30",
    }
    assert client.put(f"{base}/CPS-3.3", json=gap).status_code == 200
    evidence_id = make_evidence(app, engagement, lead, title="Vetting records", control_ids=("CPS-1.1",))
    return Assessed(engagement, client, evidence_id)


def value(field: object) -> object:
    """A token field as trestle holds it (an enum member or its string)."""
    return getattr(field, "value", field)


def oscal(client: TestClient, engagement: Engagement, kind: str) -> dict[str, object]:
    response = client.get(f"/api/engagements/{engagement.id}/oscal/{kind}.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, object] = response.json()
    return document


def test_the_ssp_validates_and_carries_each_answer_and_its_evidence(app: FastAPI) -> None:
    a = assessed(app)
    ssp = SystemSecurityPlan.parse_obj(oscal(a.client, a.engagement, "ssp")["system-security-plan"])
    assert ssp.metadata.oscal_version.root.root == "1.1.2"
    assert ssp.import_profile.href == f"/api/engagements/{a.engagement.id}/oscal/profile.json"
    requirements = {r.control_id: r for r in ssp.control_implementation.implemented_requirements}
    catalogue = a.client.get("/api/catalogues/cps-security-policy/oscal").json()["catalog"]
    catalogue_ids = {c["id"] for g in catalogue["groups"] for c in g["controls"]}
    assert set(requirements) <= catalogue_ids and "CPS-1.1" in requirements
    met = requirements["CPS-1.1"].by_components[0]
    assert value(met.implementation_status.state) == "implemented"
    assert met.description == "Every starter is vetted to BPSS."
    assert value(requirements["CPS-3.3"].by_components[0].implementation_status.state) == "planned"
    resources = {r.uuid: r for r in ssp.back_matter.resources}
    link = requirements["CPS-1.1"].links[0]
    evidence = resources[link.href.removeprefix("#")]
    assert evidence.rlinks[0].href == f"/api/evidence/{a.evidence_id}/content"
    assert (
        evidence.rlinks[0].hashes[0].algorithm == "SHA-256" and len(evidence.rlinks[0].hashes[0].value) == 64
    )
    assert any(r.rlinks[0].href == "/api/catalogues/cps-security-policy/oscal" for r in resources.values())
    names = {p.name for p in ssp.metadata.parties}
    assert "Harbour Systems Ltd" in names


def test_the_profile_imports_the_catalogue_export_with_the_controls_in_scope(app: FastAPI) -> None:
    a = assessed(app)
    profile = Profile.parse_obj(oscal(a.client, a.engagement, "profile")["profile"])
    assert [i.href for i in profile.imports] == ["/api/catalogues/cps-security-policy/oscal"]
    ids = profile.imports[0].include_controls[0].with_ids
    assert "CPS-1.1" in {getattr(i, "root", i) for i in ids}


def test_the_assessment_results_validate_with_a_finding_per_control(app: FastAPI) -> None:
    a = assessed(app)
    results = AssessmentResults.parse_obj(
        oscal(a.client, a.engagement, "assessment-results")["assessment-results"]
    )
    assert results.import_ap.href == f"/api/engagements/{a.engagement.id}/oscal/ssp.json"
    findings = {f.target.target_id: f for f in results.results[0].findings}
    assert value(findings["CPS-1.1_obj"].target.status.state) == "satisfied"
    assert value(findings["CPS-3.3_obj"].target.status.state) == "not-satisfied"
    observation = results.results[0].observations[0]
    assert findings["CPS-1.1_obj"].related_observations[0].observation_uuid == observation.uuid
    assert "Vetting records" in observation.relevant_evidence[0].description


def test_the_poam_holds_the_open_gaps_and_the_register_entries_not_implemented(app: FastAPI) -> None:
    a = assessed(app)
    poam = PlanOfActionAndMilestones.parse_obj(
        oscal(a.client, a.engagement, "poam")["plan-of-action-and-milestones"]
    )
    assert poam.import_ssp.href == f"/api/engagements/{a.engagement.id}/oscal/ssp.json"
    titles = [i.title for i in poam.poam_items]
    assert any("CPS-3.3" in t for t in titles) and "Move backups off site" in titles
    assert "Done already" not in titles and not any("CPS-1.1" in t for t in titles)
    risks = {r.uuid: r for r in poam.risks}
    gap = next(i for i in poam.poam_items if "CPS-3.3" in i.title)
    gap_risk = risks[gap.related_risks[0].risk_uuid]
    assert gap_risk.deadline.date().isoformat() == "2025-06-30"
    assert gap_risk.remediations[0].description == "Run annual refresher training"
    entry = next(i for i in poam.poam_items if i.title == "Move backups off site")
    assert risks[entry.related_risks[0].risk_uuid].deadline.date().isoformat() == "2025-03-31"


def test_oscal_of_another_tenants_engagement_is_404_and_an_unknown_kind_is_refused(app: FastAPI) -> None:
    a = assessed(app)
    stranger = make_person(app.state.engine, app.state.keys, "supplier_lead")
    client = sign_in(app, TestClient(app), stranger)
    refused = client.get(f"/api/engagements/{a.engagement.id}/oscal/ssp.json")
    assert refused.status_code == 404 and "CPS-1.1" not in refused.text
    assert a.client.get(f"/api/engagements/{a.engagement.id}/oscal/catalog.json").status_code in (404, 422)


def test_a_decided_plan_is_operational_and_its_results_name_the_statement(app: FastAPI) -> None:
    a = assessed(app)
    make_decided_submission(app.state.engine, a.engagement, approved=True)
    ssp = SystemSecurityPlan.parse_obj(oscal(a.client, a.engagement, "ssp")["system-security-plan"])
    assert value(ssp.system_characteristics.status.state) == "operational"
    assert ssp.metadata.version == "plan version 1"
    document = oscal(a.client, a.engagement, "assessment-results")["assessment-results"]
    result = AssessmentResults.parse_obj(document).results[0]
    props = {p.name: p.value for p in result.props}
    assert props["decision"] == "approved" and props["statement-number"].startswith("ISAS-")
    assert result.end is not None and result.start <= result.end
