"""What the plan and review endpoints answer: the JSON of risks, register entries, submissions and
decisions (shared by app.api.plan and app.api.reviews), and the response models the shared
app.api.bodies does not have."""

from __future__ import annotations

from dataclasses import asdict
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


class CoverageOut(Out):
    applicable: int = Field(description="Applicable controls of the engagement under the plan's scoping")
    answered: int
    met: int
    with_current_evidence: int = Field(description="Answers with at least one piece of evidence not expired")


class FollowUpOut(Out):
    control_id: str
    title: str
    reason: str = Field(description="The advisor's reason on this control in the previous version")
    outcome: str = Field(
        description="What the supplier did: changed, evidence added, 'changed, evidence added',"
        " evidence removed, unchanged or removed"
    )


class WordsOut(Out):
    kind: str = Field(description="same, deleted or inserted")
    text: str


class FieldChangeOut(Out):
    field: str
    label: str
    before: str
    after: str
    words: list[WordsOut] = Field(description="Word-level changes, for statements changed on both sides")


class EvidenceRefOut(Out):
    id: str
    title: str
    sha256: str


class ControlChangeOut(Out):
    control_id: str
    title: str
    kind: str = Field(description="added, removed or changed")
    fields: list[FieldChangeOut]
    evidence_added: list[EvidenceRefOut]
    evidence_removed: list[EvidenceRefOut]


class CellOut(Out):
    before: str
    after: str
    changed: bool


class RowOut(Out):
    kind: str = Field(description="added, removed, changed or unchanged")
    cells: list[CellOut]


class TableOut(Out):
    area: str
    title: str
    columns: list[str]
    rows: list[RowOut]


class SubmissionReviewOut(Out):
    submission_id: str
    version: int
    previous_version: int | None
    coverage: CoverageOut
    readiness: float = Field(description="The engagement's readiness today, per cent")
    open_blockers: list[str] = Field(description="Every blocker and gate open today, but the ISAS itself")
    changes: dict[str, int] = Field(description="How many changes of each kind since the previous version")
    previous_reasons: str = Field(description="The overall reasons of the previous version's decision")
    follow_ups: list[FollowUpOut]
    controls: list[ControlChangeOut]
    unchanged_controls: int
    tables: list[TableOut]


def review_json(view: Any) -> dict[str, Any]:
    """The decision summary and readable diff of app.services.reviews.ReviewView (with a summary)."""
    summary = view.summary
    return {
        "submission_id": view.submission.id,
        "version": view.submission.version,
        "previous_version": view.previous.version if view.previous else None,
        "coverage": asdict(summary.coverage),
        "readiness": summary.readiness,
        "open_blockers": [b.message for b in summary.blockers],
        "changes": dict(view.review.counts),
        "previous_reasons": view.previous_decision.reasons if view.previous_decision else "",
        "follow_ups": [asdict(f) for f in view.follow_ups],
        "controls": [asdict(c) for c in view.review.controls],
        "unchanged_controls": len(view.review.unchanged),
        "tables": [
            {
                "area": t.area,
                "title": t.title,
                "columns": list(t.columns),
                "rows": [
                    {"kind": r.kind, "cells": [{**asdict(c), "changed": c.changed} for c in r.cells]}
                    for r in t.rows
                ],
            }
            for t in view.review.tables
        ],
    }
