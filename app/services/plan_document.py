"""The Security Management Plan as one document (issue 17 item 4): the whole plan as the buyer
reviews it, printed to a tagged PDF (app.adapters.documents) or written as a Word document
(app.adapters.plan_docx), both from the one content `plan_document` composes.

The parts follow the Schedule 2.4 definitions and paras 3.4, 3.5 and 4.4 as the plan page does:
a cover (parties, contract, terms and the version: the latest submission's number and SHA-256,
or "draft" with the SHA-256 the plan would have if it were submitted now), the security roles,
the readiness summary (the dashboard's ring and bars), the responses by catalogue, the risk
register with its two heat maps, the Required Changes Register, the Incident Management Process
and the index of the evidence linked to the plan, by SHA-256.

Everything is read in a fixed number of queries whatever the plan's size, and only the evidence
rows' metadata is read: no evidence file is opened. The page route and the API both call
`download_plan`, which records the download before the first byte is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session

from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.submissions import fingerprint
from app.models import Decision, Engagement, Evidence
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
from app.services.readiness import clause_of, readiness_of
from app.services.responses import owner_names, responses_by_control


@dataclass(frozen=True, slots=True)
class Version:
    """Which plan the document shows. `sha256` is the latest submission's (what the buyer
    reviewed), or the draft's; `live_sha256` is the plan's as it stands, which the document
    prints, and `changed` says whether it differs from that submission."""

    label: str  # "version 3, submitted 10 September 2024" or "draft"
    sha256: str
    draft: bool
    live_sha256: str
    changed: bool = False
    decision: Decision | None = None


# What a submission adds to the plan's snapshot before hashing it (app.services.approvals.submit).
SUBMISSION_KEYS = frozenset({"version", "cycle", "submitted_on", "declaration"})


@dataclass(frozen=True, slots=True)
class Answer:
    control_id: str
    title: str
    clause: str
    applicable: bool
    scoping_reason: str
    status: str  # "met", "partially met", ..., "unanswered"
    statement: str
    justification: str
    owner: str
    planned_change: str
    target_on: date | None
    evidence: list[Evidence]


@dataclass(frozen=True, slots=True)
class CatalogueAnswers:
    catalogue_id: str
    title: str
    answers: list[Answer]


@dataclass(slots=True)
class IndexedEvidence:
    """One evidence version linked to the plan, with every control it supports."""

    evidence: Evidence
    control_ids: list[str] = field(default_factory=list)


def _label(status: object) -> str:
    return str(status).replace("_", " ")


def plan_version(session: Session, library: Library, engagement: Engagement) -> Version:
    """The latest submission (its SHA-256 is what the buyer reviewed), else the live draft's hash;
    with whether the plan as it stands, which the document prints, has changed since."""
    data, _gaps = approvals.snapshot(session, library, engagement)
    live = fingerprint(data)
    submitted = approvals.submissions(session, engagement.id)
    if not submitted:
        return Version(label="draft", sha256=live, draft=True, live_sha256=live)
    latest = submitted[-1]
    frozen = {k: v for k, v in approvals.data_of(latest).items() if k not in SUBMISSION_KEYS}
    return Version(
        label=f"version {latest.version}, submitted {latest.submitted_on.strftime('%d %B %Y')}",
        sha256=latest.sha256,
        draft=False,
        live_sha256=live,
        changed=fingerprint(frozen) != live,
        decision=approvals.decision_for(session, latest.id),
    )


def _answers(
    session: Session, library: Library, engagement: Engagement, evidence: dict[str, list[Evidence]]
) -> list[CatalogueAnswers]:
    catalogues = catalogue_ids(session, engagement.id)
    scoping = scoping_answers(session, engagement.id)
    responses = responses_by_control(session, engagement.id)
    owners = owner_names(session, responses)
    by_catalogue: dict[str, list[Answer]] = {c: [] for c in catalogues}
    for control in engagement_controls(library, catalogues):
        applicable, reason = applicability(control, scoping, library)
        response = responses.get(control.id)
        by_catalogue.setdefault(control.catalogue_id, []).append(
            Answer(
                control_id=control.id,
                title=control.title,
                clause=clause_of(control),
                applicable=applicable,
                scoping_reason=reason,
                status=_label(response.status) if response else "unanswered",
                statement=response.statement if response else "",
                justification=response.justification if response else "",
                owner=owners.get(response.owner_id or "", "") if response else "",
                planned_change=response.planned_change if response else "",
                target_on=response.target_on if response else None,
                evidence=evidence.get(control.id, []),
            )
        )
    return [
        CatalogueAnswers(cid, c.title if (c := library.catalogue(cid)) else cid, rows)
        for cid, rows in by_catalogue.items()
    ]


def evidence_index(evidence: dict[str, list[Evidence]]) -> list[IndexedEvidence]:
    """Each linked evidence version once, by title, with the controls it is linked to."""
    index: dict[str, IndexedEvidence] = {}
    for control_id, items in sorted(evidence.items()):
        for item in items:
            index.setdefault(item.id, IndexedEvidence(item)).control_ids.append(control_id)
    return sorted(index.values(), key=lambda i: (i.evidence.title.lower(), i.evidence.version))


def plan_document(
    session: Session, library: Library, engagement: Engagement, *, today: date
) -> dict[str, Any]:
    """What templates/documents/plan.html prints (the caller may view the engagement)."""
    names = organisation_names(session, [engagement.buyer_org_id, engagement.supplier_org_id])
    evidence = links_by_control(session, engagement.id)
    risks = plan.risks(session, engagement.id)
    process = plan.incident_process(session, engagement.id)
    view = readiness_of(session, library, engagement, today=today)
    return {
        "engagement": engagement,
        "buyer": names.get(engagement.buyer_org_id, ""),
        "supplier": names.get(engagement.supplier_org_id, ""),
        "profile": profile_of(engagement),
        "version": plan_version(session, library, engagement),
        "today": today,
        "roles": plan.security_roles(session, engagement.id),
        "role_kinds": plan.ROLE_KINDS,
        "readiness": view.readiness,
        "may": view.may,
        "catalogues": _answers(session, library, engagement, evidence),
        "risks": risks,
        "heat": plan.heat_map(risks),
        "residual_heat": plan.heat_map(risks, residual=True),
        "score": plan.score,
        "entries": plan.register_entries(session, engagement.id),
        "process": process,
        "contacts": plan.contacts_of(process),
        "incident_limits": plan.incident_limits(session, engagement.id),
        "evidence": evidence_index(evidence),
    }


def filename(engagement: Engagement, version: Version, extension: str = "pdf") -> str:
    reference = "".join(c if c.isalnum() else "-" for c in engagement.reference).strip("-")
    tag = "draft" if version.draft else version.sha256[:12]
    return f"security-management-plan-{reference}-{tag}.{extension}"


def download_plan(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    *,
    today: date,
    fmt: str = "pdf",
) -> dict[str, Any]:
    """The plan document's content for a caller who may view the engagement, the download audited
    as `engagement_exported` (what: security_management_plan, with the version's SHA-256 and the
    format: `pdf` or `docx`, two renderers of this one content)."""
    context = plan_document(session, library, engagement, today=today)
    version: Version = context["version"]
    caller.record(
        session,
        AuditAction.ENGAGEMENT_EXPORTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={
            "format": fmt,
            "what": "security_management_plan",
            "version": "draft" if version.draft else version.label.split(",")[0],
            "sha256": version.sha256,
        },
    )
    return context
