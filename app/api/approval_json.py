"""What the plan and review endpoints answer: the JSON of risks, register entries, submissions and
decisions (shared by app.api.plan and app.api.reviews), and the response models the shared
app.api.bodies does not have."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from app.api.bodies import Out, SubmissionOut
from app.models import Decision, PlanCase, RegisterEntry, Risk, Submission
from app.services import approvals, plan


def risk_json(risk: Risk) -> dict[str, Any]:
    return {
        "id": risk.id,
        "title": risk.title,
        "description": risk.description,
        "control_ids": risk.control_ids.split(),
        "likelihood": risk.likelihood,
        "impact": risk.impact,
        "score": plan.score(risk.likelihood, risk.impact),
        "treatment": risk.treatment,
        "owner": risk.owner,
        "residual_likelihood": risk.residual_likelihood,
        "residual_impact": risk.residual_impact,
        "residual_score": plan.score(risk.residual_likelihood, risk.residual_impact),
        "version": risk.version,
    }


def entry_json(entry: RegisterEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "title": entry.title,
        "description": entry.description,
        "source": entry.source,
        "control_id": entry.control_id,
        "change_notice_id": entry.change_notice_id,
        "agreed_date": entry.agreed_on.isoformat() if entry.agreed_on else None,
        "implemented_date": entry.implemented_on.isoformat() if entry.implemented_on else None,
        "status": entry.status,
        "version": entry.version,
    }


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.id,
        "number": decision.number,
        "decision": "approve" if decision.approved else "reject",
        "kind": "isas" if decision.approved else "rejection_notice",
        "reasons": decision.reasons,
        "control_reasons": approvals.control_reasons_of(decision),
        "conditions": decision.conditions,
        "consequence": decision.consequence or None,
        "advisor_name": decision.advisor_name,
        "advisor_role": decision.advisor_role,
        "decided_on": decision.decided_on.isoformat(),
        "outstanding": [o["message"] for o in approvals.outstanding_of(decision)],
    }


def submission_json(submission: Submission, decision: Decision | None, case: PlanCase) -> dict[str, Any]:
    return {
        "id": submission.id,
        "engagement_id": submission.engagement_id,
        "version": submission.version,
        "cycle": submission.cycle,
        "sha256": submission.sha256,
        "submitted_on": submission.submitted_on.isoformat(),
        "officer_name": submission.officer_name,
        "officer_role": submission.officer_role,
        "state": "decided" if decision else "awaiting_decision",
        "plan_state": case.state,
        "decision": decision_json(decision) if decision else None,
    }


class ContactOut(Out):
    name: str
    role: str
    email: str
    phone: str


class IncidentOut(Out):
    document: str
    contacts: list[ContactOut]
    report_loss_hours: int | None
    trace_loss_hours: int | None
    version: int = Field(description="Send it back as `expected_version` to edit without losing updates")


class SubmissionDetailOut(SubmissionOut):
    snapshot: dict[str, Any] = Field(description="The frozen plan: SHA-256 of its canonical JSON is `sha256`")
    open_blockers: list[str] = Field(
        description="For an advisor who may decide: the blockers and gates an approval would leave open"
        " (approving then needs `acknowledge_outstanding`); empty otherwise"
    )


class ChangeOut(Out):
    area: str
    key: str
    what: str
    before: str
    after: str


class DiffOut(Out):
    previous_version: int | None
    changes: list[ChangeOut]


class CommentOut(Out):
    id: str
    control_id: str
    body: str


class ClosureDayOut(Out):
    id: str
    day: date
    reason: str


class ClosureDaysOut(Out):
    closure_days: list[ClosureDayOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")
