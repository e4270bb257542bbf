"""Plan and approval API: risks, Required Changes Register, incident process, security roles,
submissions, decisions, statements, change notices, deadlines and the review queue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app import clock
from app.api.bodies import (
    ChangeEvent,
    DeadlinesOut,
    EntryOut,
    FiledNoticeOut,
    NoticesOut,
    PlanOut,
    ReviewsOut,
    RiskOut,
    SecurityRolesOut,
    StateOut,
    SubmissionOut,
    SubmissionsOut,
    SubmittedOut,
)
from app.api.dates import WindowDate
from app.api.schema import ApiRoute, responses_for
from app.domain.access import Action
from app.domain.errors import Forbidden
from app.domain.submissions import diff
from app.domain.workflow import Move, allowed_moves, profile
from app.models import Decision, RegisterEntry, Risk, Submission
from app.services import approvals, changes, plan
from app.services.deadlines import engagement_deadlines, review_queue
from app.web import auth, documents
from app.web.deps import LibraryDep, SessionDep, writer
from app.web.loaders import engagement_for, submission_for

router = APIRouter(
    prefix="/api",
    tags=["approvals"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)
STATE_CONFLICT = responses_for(409)  # the workflow refuses a move from the plan's current state


class RiskIn(BaseModel):
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=10_000)
    control_ids: list[str] = Field(default_factory=list, max_length=100)
    likelihood: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    treatment: str = Field(default="", max_length=10_000)
    owner: str = Field(default="", max_length=200)
    residual_likelihood: int = Field(ge=1, le=5)
    residual_impact: int = Field(ge=1, le=5)
    expected_version: int | None = Field(
        default=None, ge=0, description="The version you edited; a newer one answers 409 (ignored on create)."
    )


class EntryIn(BaseModel):
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=10_000)
    control_id: str | None = Field(default=None, max_length=64)
    agreed_date: WindowDate | None = None
    implemented_date: WindowDate | None = None
    status: Literal["planned", "in_progress", "implemented"] = "planned"
    expected_version: int | None = Field(
        default=None, ge=0, description="The version you edited; a newer one answers 409 (ignored on create)."
    )


class ContactIn(BaseModel):
    name: str = Field(max_length=200)
    role: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40)


class IncidentIn(BaseModel):
    document: str = Field(max_length=50_000)
    contacts: list[ContactIn] = Field(max_length=50)
    # Omitted: the CPS Security Policy 4.9 maxima (24 / 48) when that catalogue is in the
    # engagement, otherwise no hours (Schedule 2.4 and Call Off Schedule 7 set none).
    report_loss_hours: int | None = None
    trace_loss_hours: int | None = None
    expected_version: int | None = Field(
        default=None, ge=0, description="The version you edited (0: none yet); a newer one answers 409."
    )


class PersonIn(BaseModel):
    kind: Literal["designated_security_contact", "day_to_day_contact", "information_assurance"]
    name: str = Field(max_length=200)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40)
    board_level: bool = False


class RolesIn(BaseModel):
    people: list[PersonIn] = Field(max_length=50)
    expected_version: int | None = Field(
        default=None, ge=0, description="The version you edited (0: not named yet); a newer one answers 409."
    )


class SubmitIn(BaseModel):
    officer_name: str = Field(max_length=200)
    officer_role: str = Field(max_length=200)
    declaration_confirmed: bool


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    reasons: str = Field(default="", max_length=20_000)
    control_reasons: dict[str, str] = Field(default_factory=dict, max_length=500)
    conditions: str = Field(default="", max_length=20_000)
    residual_risks_accepted: bool = False
    advisor_role: str = Field(default="Security advisor", max_length=200)


class CommentIn(BaseModel):
    control_id: str = Field(max_length=64)
    body: str = Field(max_length=20_000)


class NoticeIn(BaseModel):
    event: ChangeEvent
    description: str = Field(max_length=10_000)
    aware_date: WindowDate


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


def submission_json(db: SessionDep, submission: Submission) -> dict[str, Any]:
    decision = approvals.decision_for(db, submission.id)
    case = approvals.case_row(db, submission.engagement_id)
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
    }


def audit(request: Request, db: SessionDep, principal: auth.Principal, action: str, **fields: Any) -> None:
    auth.record(request, db, principal, action, **fields)
    db.commit()


@router.get("/engagements/{engagement_id}/plan", name="api:plan", response_model=PlanOut)
def get_plan(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> dict[str, Any]:
    """Where the plan stands: state, the moves open to the caller, and what is missing before submission."""
    engagement = engagement_for(request, db, principal, engagement_id)
    row = approvals.case_row(db, engagement.id)
    prof = profile(engagement.workflow_profile)
    _data, gaps = approvals.snapshot(db, library, engagement)
    return {
        "state": row.state,
        "cycle": row.cycle,
        "rejections": row.rejections,
        "material_default": row.material_default,
        "workflow_profile": prof.id,
        "moves": [m.value for m in allowed_moves(approvals.case_of(row), principal.user.role, prof)],
        "missing": [g.to_dict() for g in gaps],
        "risks": [risk_json(r) for r in plan.risks(db, engagement.id)],
        "register": [entry_json(e) for e in plan.register_entries(db, engagement.id)],
        "submissions": [submission_json(db, s) for s in approvals.submissions(db, engagement.id)],
    }


@router.post(
    "/engagements/{engagement_id}/risks", name="api:create-risk", status_code=201, response_model=RiskOut
)
def create_risk(
    request: Request,
    engagement_id: str,
    body: RiskIn,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> JSONResponse:
    engagement = engagement_for(request, db, principal, engagement_id, Action.MANAGE_PLAN)
    risk = plan.save_risk(db, library, engagement, principal.actor, plan.RiskInput(**body.model_dump()))
    audit(
        request,
        db,
        principal,
        "risk_saved",
        object_type="risk",
        object_id=risk.id,
        engagement_id=engagement.id,
    )
    return JSONResponse(risk_json(risk), status_code=201)


@router.put("/engagements/{engagement_id}/risks/{risk_id}", name="api:update-risk", response_model=RiskOut)
def update_risk(
    request: Request,
    engagement_id: str,
    risk_id: str,
    body: RiskIn,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> dict[str, Any]:
    engagement = engagement_for(request, db, principal, engagement_id, Action.MANAGE_PLAN)
    risk = plan.save_risk(
        db, library, engagement, principal.actor, plan.RiskInput(**body.model_dump()), risk_id=risk_id
    )
    audit(
        request,
        db,
        principal,
        "risk_saved",
        object_type="risk",
        object_id=risk.id,
        engagement_id=engagement.id,
    )
    return risk_json(risk)


@router.delete("/engagements/{engagement_id}/risks/{risk_id}", name="api:delete-risk", status_code=204)
def delete_risk(
    request: Request,
    engagement_id: str,
    risk_id: str,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    expected_version: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Remove a risk; with `expected_version`, only if nobody saved it since (409 otherwise)."""
    engagement = engagement_for(request, db, principal, engagement_id, Action.MANAGE_PLAN)
    plan.delete_risk(db, engagement, principal.actor, risk_id, expected_version=expected_version)
    audit(
        request,
        db,
        principal,
        "risk_deleted",
        object_type="risk",
        object_id=risk_id,
        engagement_id=engagement.id,
    )
    return Response(status_code=204)


def _entry_input(body: EntryIn) -> plan.EntryInput:
    return plan.EntryInput(
        title=body.title,
        description=body.description,
        control_id=body.control_id,
        agreed_on=body.agreed_date.isoformat() if body.agreed_date else None,
        implemented_on=body.implemented_date.isoformat() if body.implemented_date else None,
        status=body.status,
        expected_version=body.expected_version,
    )


@router.post(
    "/engagements/{engagement_id}/register", name="api:create-entry", status_code=201, response_model=EntryOut
)
def create_entry(
    request: Request, engagement_id: str, body: EntryIn, db: SessionDep, principal: auth.CurrentPrincipal
) -> JSONResponse:
    engagement = engagement_for(request, db, principal, engagement_id, Action.MANAGE_PLAN)
    entry = plan.save_entry(db, engagement, principal.actor, _entry_input(body))
    audit(
        request,
        db,
        principal,
        "register_entry_saved",
        object_type="register_entry",
        object_id=entry.id,
        engagement_id=engagement.id,
    )
    return JSONResponse(entry_json(entry), status_code=201)


@router.put(
    "/engagements/{engagement_id}/register/{entry_id}", name="api:update-entry", response_model=EntryOut
)
def update_entry(
    request: Request,
    engagement_id: str,
    entry_id: str,
    body: EntryIn,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
) -> dict[str, Any]:
    engagement = engagement_for(request, db, principal, engagement_id, Action.MANAGE_PLAN)
    entry = plan.save_entry(db, engagement, principal.actor, _entry_input(body), entry_id=entry_id)
    audit(
        request,
        db,
        principal,
        "register_entry_saved",
        object_type="register_entry",
        object_id=entry.id,
        engagement_id=engagement.id,
    )
    return entry_json(entry)


@router.put("/engagements/{engagement_id}/incident-process", name="api:incident-process")
def put_incident_process(
    request: Request, engagement_id: str, body: IncidentIn, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    engagement = engagement_for(request, db, principal, engagement_id, Action.MANAGE_PLAN)
    process = plan.set_incident_process(
        db,
        engagement,
        principal.actor,
        document=body.document,
        contacts=[c.model_dump() for c in body.contacts],
        report_loss_hours=body.report_loss_hours,
        trace_loss_hours=body.trace_loss_hours,
        expected_version=body.expected_version,
    )
    audit(
        request,
        db,
        principal,
        "incident_process_saved",
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    return {
        "document": process.document,
        "contacts": plan.contacts_of(process),
        "report_loss_hours": process.report_loss_hours,
        "trace_loss_hours": process.trace_loss_hours,
        "version": process.version,
    }


@router.put(
    "/engagements/{engagement_id}/security-roles", name="api:security-roles", response_model=SecurityRolesOut
)
def put_security_roles(
    request: Request, engagement_id: str, body: RolesIn, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    engagement = engagement_for(request, db, principal, engagement_id, Action.MANAGE_PLAN)
    people = [p.model_dump() for p in body.people]
    rows = plan.set_security_roles(
        db, engagement, principal.actor, people, expected_version=body.expected_version
    )
    audit(
        request,
        db,
        principal,
        "security_roles_saved",
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    return {
        "people": [
            {"kind": r.kind, "name": r.name, "email": r.email, "phone": r.phone, "board_level": r.board_level}
            for r in rows
        ],
        "version": plan.roles_version(db, engagement.id),
    }


@router.get("/engagements/{engagement_id}/submissions", name="api:submissions", response_model=SubmissionsOut)
def list_submissions(
    request: Request, engagement_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    engagement = engagement_for(request, db, principal, engagement_id)
    return {"submissions": [submission_json(db, s) for s in approvals.submissions(db, engagement.id)]}


@router.post(
    "/engagements/{engagement_id}/submissions",
    name="api:submit",
    status_code=201,
    response_model=SubmittedOut,
    responses=STATE_CONFLICT,
)
def submit(
    request: Request,
    engagement_id: str,
    body: SubmitIn,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> JSONResponse:
    """Submit the plan. 422 lists everything missing (`details.missing`), and nothing is recorded."""
    engagement = engagement_for(request, db, principal, engagement_id, Action.SUBMIT_PLAN)
    submission = approvals.submit(
        db,
        library,
        engagement,
        principal.actor,
        officer_name=body.officer_name,
        officer_role=body.officer_role,
        confirmed=body.declaration_confirmed,
        today=clock.today(),
    )
    audit(
        request,
        db,
        principal,
        "plan_submitted",
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"version": submission.version, "sha256": submission.sha256},
    )
    body_json = submission_json(db, submission)
    return JSONResponse({**body_json, "state": body_json["plan_state"]}, status_code=201)


@router.get("/submissions/{submission_id}", name="api:submission")
def get_submission(
    request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """The submission with its frozen snapshot (verify: SHA-256 of the canonical snapshot = `sha256`)."""
    submission, _engagement = submission_for(request, db, principal, submission_id)
    return {**submission_json(db, submission), "snapshot": approvals.data_of(submission)}


@router.get("/submissions/{submission_id}/diff", name="api:submission-diff")
def get_diff(
    request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """What changed since the previous version (empty `changes` for the first)."""
    submission, _engagement = submission_for(request, db, principal, submission_id)
    before = approvals.previous(db, submission)
    changes_list = diff(approvals.data_of(before), approvals.data_of(submission)) if before else []
    return {
        "previous_version": before.version if before else None,
        "changes": [
            {"area": c.area, "key": c.key, "what": c.what, "before": c.before, "after": c.after}
            for c in changes_list
        ],
    }


@router.post("/submissions/{submission_id}/comments", name="api:comment", status_code=201)
def post_comment(
    request: Request, submission_id: str, body: CommentIn, db: SessionDep, principal: auth.CurrentPrincipal
) -> JSONResponse:
    submission, engagement = submission_for(request, db, principal, submission_id, Action.DECIDE_SUBMISSION)
    comment = approvals.add_comment(
        db, submission, principal.actor, control_id=body.control_id, body=body.body
    )
    audit(
        request,
        db,
        principal,
        "review_comment_added",
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"control_id": body.control_id},
    )
    return JSONResponse(
        {"id": comment.id, "control_id": comment.control_id, "body": comment.body}, status_code=201
    )


@router.post(
    "/submissions/{submission_id}/decision",
    name="api:decision",
    response_model=SubmissionOut,
    responses=STATE_CONFLICT,
)
def post_decision(
    request: Request, submission_id: str, body: DecisionIn, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """Approve (issues the numbered ISAS) or reject (issues a rejection notice with reasons)."""
    submission, engagement = submission_for(request, db, principal, submission_id, Action.DECIDE_SUBMISSION)
    decision = approvals.decide(
        db,
        engagement,
        submission,
        principal.actor,
        approve=body.decision == "approve",
        reasons=body.reasons,
        control_reasons=body.control_reasons,
        conditions=body.conditions,
        residual_risks_accepted=body.residual_risks_accepted,
        advisor_role=body.advisor_role,
        today=clock.today(),
    )
    audit(
        request,
        db,
        principal,
        "plan_approved" if decision.approved else "plan_rejected",
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"number": decision.number, "sha256": submission.sha256, "consequence": decision.consequence},
    )
    return submission_json(db, submission)


@router.get(
    "/submissions/{submission_id}/statement.pdf",
    name="api:statement-pdf",
    response_class=Response,
    responses={200: {"description": "The statement as PDF", "content": {"application/pdf": {}}}},
)
def statement_pdf(
    request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    """The ISAS or rejection notice as PDF (404 until the submission is decided)."""
    submission, engagement = submission_for(request, db, principal, submission_id)
    context = documents.statement_context(db, request, submission, engagement)
    pdf = documents.statement_pdf(documents.statement_html(context))
    with writer(request, db) as audit_db:  # a read never upgrades to a write (see deps.get_session)
        auth.record(
            request,
            audit_db,
            principal,
            "statement_downloaded",
            object_type="submission",
            object_id=submission.id,
            engagement_id=engagement.id,
            details={"number": context["decision"].number},
        )
    name = documents.filename(context["decision"])
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _advisor_move(
    request: Request, engagement_id: str, db: SessionDep, principal: auth.Principal, step: Move, what: str
) -> dict[str, Any]:
    engagement = engagement_for(request, db, principal, engagement_id, Action.DECIDE_SUBMISSION)
    case = approvals.move(db, engagement, principal.actor, step)
    audit(
        request,
        db,
        principal,
        what,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    return {"state": case.state.value}


@router.post(
    "/engagements/{engagement_id}/dispute/resolve",
    name="api:resolve-dispute",
    response_model=StateOut,
    responses=STATE_CONFLICT,
)
def resolve_dispute(
    request: Request, engagement_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """Record that the Dispute Resolution Procedure ended: the supplier revises the plan again."""
    return _advisor_move(request, engagement_id, db, principal, Move.RESOLVE_DISPUTE, "dispute_resolved")


@router.post(
    "/engagements/{engagement_id}/termination",
    name="api:terminate",
    response_model=StateOut,
    responses=STATE_CONFLICT,
)
def terminate(
    request: Request, engagement_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """Record termination after a material Default (Schedule 2.4 para 4.7)."""
    return _advisor_move(request, engagement_id, db, principal, Move.TERMINATE, "termination_recorded")


@router.get(
    "/engagements/{engagement_id}/change-notices", name="api:change-notices", response_model=NoticesOut
)
def list_notices(
    request: Request, engagement_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    engagement = engagement_for(request, db, principal, engagement_id)
    return {
        "change_notices": [
            {
                "id": n.id,
                "number": n.number,
                "event": n.event,
                "description": n.description,
                "aware_date": n.aware_on.isoformat(),
                "filed_date": n.filed_on.isoformat(),
                "late": n.late,
            }
            for n in changes.notices(db, engagement.id)
        ]
    }


@router.post(
    "/engagements/{engagement_id}/change-notices",
    name="api:file-notice",
    status_code=201,
    response_model=FiledNoticeOut,
)
def file_notice(
    request: Request, engagement_id: str, body: NoticeIn, db: SessionDep, principal: auth.CurrentPrincipal
) -> JSONResponse:
    """File a change notice (para 5.2 events a-i, or `certification` for 6.6); late after 2 Working Days."""
    engagement = engagement_for(request, db, principal, engagement_id, Action.NOTIFY_CHANGE)
    notice = changes.file_notice(
        db,
        engagement,
        principal.actor,
        event=body.event,
        description=body.description,
        aware_on=body.aware_date.isoformat(),
        today=clock.today(),
    )
    audit(
        request,
        db,
        principal,
        "change_notice_filed",
        object_type="change_notice",
        object_id=notice.id,
        engagement_id=engagement.id,
        details={"number": notice.number, "late": notice.late},
    )
    return JSONResponse(
        {
            "id": notice.id,
            "number": notice.number,
            "event": notice.event,
            "late": notice.late,
            "aware_date": notice.aware_on.isoformat(),
            "filed_date": notice.filed_on.isoformat(),
        },
        status_code=201,
    )


@router.get("/engagements/{engagement_id}/deadlines", name="api:deadlines", response_model=DeadlinesOut)
def deadlines(
    request: Request, engagement_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """Computed deadlines, each with the rule and clause that produced it and its state."""
    engagement = engagement_for(request, db, principal, engagement_id)
    return {"deadlines": [d.to_dict() for d in engagement_deadlines(db, engagement, today=clock.today())]}


@router.get("/reviews", name="api:reviews", response_model=ReviewsOut, responses=responses_for(403))
def reviews(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> dict[str, Any]:
    """Buyer advisors: every submission awaiting a decision in their engagements, most urgent first."""
    if not auth.can_act(principal, Action.REVIEW_QUEUE):
        raise Forbidden("The review queue is for buyer security advisors.")
    items = review_queue(db, principal.user.organisation_id, today=clock.today())
    return {
        "reviews": [
            {
                "submission_id": i.submission.id,
                "engagement_id": i.engagement.id,
                "reference": i.engagement.reference,
                "supplier": i.supplier,
                "version": i.submission.version,
                "submitted_on": i.submission.submitted_on.isoformat(),
                "decision_due": i.due.due_on.isoformat(),
                "state": i.due.state,
            }
            for i in items
        ]
    }
