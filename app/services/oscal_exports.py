"""An engagement in OSCAL 1.1 (issue 17 item 6, the export side): the plan as a System Security
Plan, its assessment as Assessment Results, and its open gaps with the Required Changes Register
as a Plan of Action and Milestones. Each document refers to the catalogue exports
(`GET /api/catalogues/{id}/oscal`) by href, through a profile of the engagement that selects the
controls in scope; control ids are the catalogue export's (app.adapters.oscal.token).

Where OSCAL wants a document Attest does not keep, the choice is written here once:
- the SSP's `import-profile` is the engagement's own profile (`.../oscal/profile.json`), which
  imports each catalogue in scope with the applicable controls;
- Attest has no separate assessment plan: the Assessment Results' `import-ap` names the SSP,
  whose control implementation is what was assessed;
- an answer's status becomes the by-component `implementation-status` (met: implemented,
  partially met: partial, not met: planned, not applicable: not-applicable) and, in the results,
  a finding's target status (met: satisfied; partially met, not met or unanswered: not-satisfied);
- a gap (partially met or not met) and each Required Changes Register entry not yet implemented
  are POA&M items, each with a risk whose deadline is the target date or the agreed date.
Evidence is a back-matter resource with its SHA-256 and the API address of its bytes. The parts'
ids are UUID v5 of Attest's ids, the same in every export; a document's own uuid follows its
last-modified time, as OSCAL asks of a changed document.

The documents are plain dicts in OSCAL's JSON model; the tests validate them with
compliance-trestle's pydantic models. Every export is audited as `engagement_exported`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session

from app import __version__
from app.adapters.oscal import NAMESPACE, OSCAL_VERSION, UUID_NAMESPACE, token
from app.domain.audit import AuditAction
from app.domain.catalogue import Control, Library
from app.models import ControlResponse, Engagement, Evidence
from app.services import approvals, plan
from app.services.caller import Caller
from app.services.deadlines import profile_of
from app.services.engagements import (
    applicability,
    catalogue_ids,
    engagement_controls,
    organisation_names,
    scoping_answers,
)
from app.services.evidence import links_by_control
from app.services.responses import responses_by_control

KINDS = ("profile", "ssp", "assessment-results", "poam")
IMPLEMENTATION = {
    "met": "implemented",
    "partially_met": "partial",
    "not_met": "planned",
    "not_applicable": "not-applicable",
}
RISK_STATUS = {"planned": "open", "in_progress": "remediating", "implemented": "closed"}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, "/".join(("engagement", *parts))))


def _prop(name: str, value: str) -> dict[str, str]:
    return {"name": name, "ns": NAMESPACE, "value": value}


def _at(day: date) -> str:
    """A date as an OSCAL date-time (the end of the day in UTC: a deadline is met on its day)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC).isoformat()


def _aware(moment: datetime) -> datetime:
    """A stored time with its zone: SQLite hands UTC times back naive, OSCAL wants the offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def href(engagement: Engagement, kind: str) -> str:
    return f"/api/engagements/{engagement.id}/oscal/{kind}.json"


class _Engagement:
    """Everything the four documents read, loaded once (a fixed number of queries)."""

    def __init__(self, session: Session, library: Library, engagement: Engagement, *, now: datetime) -> None:
        self.engagement = engagement
        self.now = now
        self.library = library
        self.catalogues = catalogue_ids(session, engagement.id)
        scoping = scoping_answers(session, engagement.id)
        self.controls: list[tuple[Control, bool]] = [
            (c, applicability(c, scoping, library)[0]) for c in engagement_controls(library, self.catalogues)
        ]
        self.responses: dict[str, ControlResponse] = responses_by_control(session, engagement.id)
        self.evidence: dict[str, list[Evidence]] = links_by_control(session, engagement.id)
        self.names = organisation_names(session, [engagement.buyer_org_id, engagement.supplier_org_id])
        submitted = approvals.submissions(session, engagement.id)
        self.submission = submitted[-1] if submitted else None
        self.decision = approvals.decision_for(session, self.submission.id) if self.submission else None
        self.roles = plan.security_roles(session, engagement.id)
        self.entries = plan.register_entries(session, engagement.id)
        self.profile = profile_of(engagement)

    @property
    def applicable(self) -> list[Control]:
        return [c for c, applicable in self.controls if applicable]

    def metadata(self, title: str) -> dict[str, Any]:
        e = self.engagement
        buyer, supplier = _uuid(e.id, "party", "buyer"), _uuid(e.id, "party", "supplier")
        version = f"plan version {self.submission.version}" if self.submission else "draft"
        return {
            "title": f"{title}: {e.reference} {e.title}",
            "last-modified": self.now.isoformat(),
            "version": version,
            "oscal-version": OSCAL_VERSION,
            "props": [_prop("generator", f"Attest {__version__}"), _prop("terms", self.profile.title)],
            "roles": [{"id": "buyer", "title": "Buyer"}, {"id": "supplier", "title": "Supplier"}],
            "parties": [
                {"uuid": buyer, "type": "organization", "name": self.names.get(e.buyer_org_id, "")},
                {"uuid": supplier, "type": "organization", "name": self.names.get(e.supplier_org_id, "")},
            ],
            "responsible-parties": [
                {"role-id": "buyer", "party-uuids": [buyer]},
                {"role-id": "supplier", "party-uuids": [supplier]},
            ],
        }

    def back_matter(self) -> dict[str, Any]:
        resources: list[dict[str, Any]] = [
            {
                "uuid": _uuid(self.engagement.id, "catalogue", cid),
                "title": c.title if (c := self.library.catalogue(cid)) else cid,
                "rlinks": [{"href": f"/api/catalogues/{cid}/oscal", "media-type": "application/json"}],
            }
            for cid in self.catalogues
        ]
        seen: set[str] = set()
        for items in self.evidence.values():
            for item in items:
                if item.id in seen:
                    continue
                seen.add(item.id)
                resources.append(
                    {
                        "uuid": evidence_uuid(item),
                        "title": f"{item.title} (version {item.version})",
                        "props": [_prop("marking", str(item.marking))]
                        + ([_prop("expires", item.expires_on.isoformat())] if item.expires_on else []),
                        "rlinks": [
                            {
                                "href": f"/api/evidence/{item.id}/content",
                                "media-type": item.media_type,
                                "hashes": [{"algorithm": "SHA-256", "value": item.sha256}],
                            }
                        ],
                    }
                )
        return {"resources": resources}


def evidence_uuid(item: Evidence) -> str:
    return _uuid("evidence", item.id)


def _component(data: _Engagement) -> str:
    return _uuid(data.engagement.id, "component", "this-system")


def profile(data: _Engagement) -> dict[str, Any]:
    """The engagement's selection of each catalogue in scope: its applicable controls."""
    by_catalogue: dict[str, list[str]] = {cid: [] for cid in data.catalogues}
    for control in data.applicable:
        by_catalogue.setdefault(control.catalogue_id, []).append(token(control.id))
    imports = [
        {"href": f"/api/catalogues/{cid}/oscal", "include-controls": [{"with-ids": ids}]}
        for cid, ids in by_catalogue.items()
        if ids
    ]
    return {
        "profile": {
            "uuid": _uuid(data.engagement.id, "profile", data.now.isoformat()),
            "metadata": data.metadata("Controls in scope"),
            "imports": imports,
            "merge": {"as-is": True},
        }
    }


def ssp(data: _Engagement) -> dict[str, Any]:
    e = data.engagement
    approved = data.decision is not None and data.decision.approved
    requirements = []
    for control in data.applicable:
        response = data.responses.get(control.id)
        by_component: dict[str, Any] = {
            "component-uuid": _component(data),
            "uuid": _uuid(e.id, "by-component", control.id),
            "description": (response.statement or response.justification or "No statement.")
            if response
            else "Not answered yet.",
        }
        if response is not None:
            by_component["implementation-status"] = {"state": IMPLEMENTATION[str(response.status)]}
            if response.planned_change:
                by_component["remarks"] = f"Planned change: {response.planned_change}" + (
                    f" by {response.target_on.isoformat()}" if response.target_on else ""
                )
        requirement: dict[str, Any] = {
            "uuid": _uuid(e.id, "requirement", control.id),
            "control-id": token(control.id),
            "props": [{"name": "label", "value": control.id}],
            "by-components": [by_component],
        }
        links = [
            {"href": f"#{evidence_uuid(item)}", "rel": "evidence", "text": item.title}
            for item in data.evidence.get(control.id, ())
        ]
        if links:
            requirement["links"] = links
        requirements.append(requirement)
    users = [
        {
            "uuid": _uuid(e.id, "user", r.id),
            "title": f"{r.name} ({plan.ROLE_KINDS.get(r.kind, r.kind)})",
            "props": [_prop("role", r.kind)],
        }
        for r in data.roles
    ] or [{"uuid": _uuid(e.id, "user", "none"), "title": "No security roles named yet"}]
    return {
        "system-security-plan": {
            "uuid": _uuid(e.id, "ssp", data.now.isoformat()),
            "metadata": data.metadata("System Security Plan"),
            "import-profile": {"href": href(e, "profile")},
            "system-characteristics": {
                "system-ids": [{"identifier-type": NAMESPACE, "id": e.id}],
                "system-name": e.title,
                "system-name-short": e.reference,
                "description": f"The supplier's Information Management System for {e.reference}: {e.title}"
                f" ({data.profile.title}), as its Security Management Plan describes it.",
                # OSCAL wants at least one prop when `props` is present (trestle 5 checks it)
                **({"props": [_prop("plan-sha256", data.submission.sha256)]} if data.submission else {}),
                "system-information": {
                    "information-types": [
                        {
                            "uuid": _uuid(e.id, "information", "buyer-data"),
                            "title": "Buyer data",
                            "description": "Information the buyer provides or the supplier handles for it"
                            " under the contract.",
                        }
                    ]
                },
                "status": {"state": "operational" if approved else "under-development"},
                "authorization-boundary": {
                    "description": "The systems, sites and people the contract's scoping answers bring"
                    " into scope; controls a scoping answer switches off are left out of the profile."
                },
            },
            "system-implementation": {
                "users": users,
                "components": [
                    {
                        "uuid": _component(data),
                        "type": "this-system",
                        "title": f"{data.names.get(e.supplier_org_id, '')} Information Management System",
                        "description": f"What the supplier uses to process buyer data for {e.reference}.",
                        "status": {"state": "operational"},
                    }
                ],
            },
            "control-implementation": {
                "description": "Each applicable control with the supplier's answer and its evidence.",
                "implemented-requirements": requirements,
            },
            "back-matter": data.back_matter(),
        }
    }


def assessment_results(data: _Engagement) -> dict[str, Any]:
    e = data.engagement
    observations, findings = [], []
    for control in data.applicable:
        response = data.responses.get(control.id)
        if response is not None and str(response.status) == "not_applicable":
            continue
        items = data.evidence.get(control.id, [])
        related = []
        if items:
            observation = _uuid(e.id, "observation", control.id)
            observations.append(
                {
                    "uuid": observation,
                    "title": f"Evidence for {control.id}",
                    "description": f"{len(items)} item(s) of evidence linked to {control.id}.",
                    "methods": ["EXAMINE"],
                    "collected": _aware(max(i.uploaded_at for i in items)).isoformat(),
                    "relevant-evidence": [
                        {"href": f"#{evidence_uuid(i)}", "description": f"{i.title} (SHA-256 {i.sha256})"}
                        for i in items
                    ],
                }
            )
            related = [{"observation-uuid": observation}]
        status = str(response.status) if response else "unanswered"
        finding: dict[str, Any] = {
            "uuid": _uuid(e.id, "finding", control.id),
            "title": f"{control.id} {control.title}",
            "description": f"Answered {status.replace('_', ' ')}."
            + (f" {response.statement}" if response and response.statement else ""),
            "target": {
                "type": "objective-id",
                "target-id": f"{token(control.id)}_obj",
                "status": {"state": "satisfied" if status == "met" else "not-satisfied"},
            },
        }
        if related:
            finding["related-observations"] = related
        findings.append(finding)
    start = (
        datetime.combine(data.submission.submitted_on, time(), tzinfo=UTC)
        if data.submission
        else datetime.combine(e.effective_on, time(), tzinfo=UTC)
    )
    result: dict[str, Any] = {
        "uuid": _uuid(e.id, "result", data.now.isoformat()),
        "title": f"Assessment of {e.reference}"
        + (f", plan version {data.submission.version}" if data.submission else " (draft)"),
        "description": "The supplier's answer to each applicable control, read as the score reads it.",
        "start": start.isoformat(),
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": token(c.id)} for c in data.applicable]}
                if data.applicable
                else {"include-all": {}}
            ]
        },
        "findings": findings,
    }
    if observations:
        result["observations"] = observations
    if data.decision is not None:
        result["end"] = datetime.combine(data.decision.decided_on, time(), tzinfo=UTC).isoformat()
        result["props"] = [
            _prop("decision", "approved" if data.decision.approved else "rejected"),
            _prop("statement-number", data.decision.number),
        ]
    return {
        "assessment-results": {
            "uuid": _uuid(e.id, "assessment-results", data.now.isoformat()),
            "metadata": data.metadata("Assessment Results"),
            "import-ap": {
                "href": href(e, "ssp"),
                "remarks": "Attest keeps no separate assessment plan: the plan's own control"
                " implementation is what was assessed.",
            },
            "results": [result],
            "back-matter": data.back_matter(),
        }
    }


def poam(data: _Engagement) -> dict[str, Any]:
    e = data.engagement
    risks, items = [], []
    for control in data.applicable:
        response = data.responses.get(control.id)
        if response is None or str(response.status) not in ("not_met", "partially_met"):
            continue
        risk_id = _uuid(e.id, "gap-risk", control.id)
        risk: dict[str, Any] = {
            "uuid": risk_id,
            "title": f"{control.id} is {str(response.status).replace('_', ' ')}",
            "description": control.requirement or control.title,
            "statement": response.statement or "No statement.",
            "status": "open",
            "props": [{"name": "label", "value": control.id}],
        }
        if response.target_on:
            risk["deadline"] = _at(response.target_on)
        if response.planned_change:
            risk["remediations"] = [
                {
                    "uuid": _uuid(e.id, "gap-remediation", control.id),
                    "lifecycle": "planned",
                    "title": "Planned change",
                    "description": response.planned_change,
                }
            ]
        risks.append(risk)
        items.append(
            {
                "uuid": _uuid(e.id, "gap-item", control.id),
                "title": f"Close the gap in {control.id} {control.title}",
                "description": response.planned_change or "No planned change recorded yet.",
                "props": [_prop("source", "gap"), {"name": "label", "value": control.id}],
                "related-risks": [{"risk-uuid": risk_id}],
            }
        )
    for entry in data.entries:
        if str(entry.status) == "implemented":
            continue
        risk_id = _uuid(e.id, "entry-risk", entry.id)
        risk = {
            "uuid": risk_id,
            "title": entry.title,
            "description": entry.description or entry.title,
            "statement": f"Required Changes Register entry from {str(entry.source).replace('_', ' ')}"
            + (f" for {entry.control_id}" if entry.control_id else "")
            + ("; agreed" if entry.agreed_on else "; not agreed with the buyer yet")
            + ".",
            "status": RISK_STATUS[str(entry.status)],
        }
        if entry.agreed_on:
            risk["deadline"] = _at(entry.agreed_on)
        risks.append(risk)
        item: dict[str, Any] = {
            "uuid": _uuid(e.id, "entry-item", entry.id),
            "title": entry.title,
            "description": entry.description or entry.title,
            "props": [_prop("source", "required-changes-register"), _prop("status", str(entry.status))],
            "related-risks": [{"risk-uuid": risk_id}],
        }
        items.append(item)
    document: dict[str, Any] = {
        "uuid": _uuid(e.id, "poam", data.now.isoformat()),
        "metadata": data.metadata("Plan of Action and Milestones"),
        "import-ssp": {"href": href(e, "ssp")},
        "system-id": {"identifier-type": NAMESPACE, "id": e.id},
        "poam-items": items
        or [
            {
                "uuid": _uuid(e.id, "no-items"),
                "title": "Nothing open",
                "description": "No gaps and no Required Changes Register entry left to implement.",
            }
        ],
        "back-matter": data.back_matter(),
    }
    if risks:
        document["risks"] = risks
    return {"plan-of-action-and-milestones": document}


BUILDERS = {"profile": profile, "ssp": ssp, "assessment-results": assessment_results, "poam": poam}


def export_oscal(
    session: Session, library: Library, engagement: Engagement, caller: Caller, kind: str, *, now: datetime
) -> dict[str, Any]:
    """One of KINDS for a caller who may view the engagement (the loader checked), audited."""
    document = BUILDERS[kind](_Engagement(session, library, engagement, now=now))
    caller.record(
        session,
        AuditAction.ENGAGEMENT_EXPORTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"format": "oscal-json", "what": kind},
    )
    return document
