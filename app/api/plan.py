"""Plan API: where the plan stands, risks, the Required Changes Register, the Incident Management
Process, security roles, submission, change notices, deadlines, and the advisors' dispute and
termination moves. Each handler gets the engagement from a load-or-refuse dependency
(app.http.loaders), calls the use case's service (which applies the rule and audits), commits
once and serialises. A handler with a second path parameter still names `engagement_id` first,
so the schema lists them in the order of the path."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from app import clock
from app.api.approval_json import IncidentOut, entry_json, risk_json, submission_json
from app.api.bodies import (
    ChangeEvent,
    DeadlinesOut,
    EntryOut,
    FiledNoticeOut,
    NoticesOut,
    Out,
    PlanOut,
    RiskOut,
    SecurityRolesOut,
    StateOut,
    SubmissionsOut,
    SubmittedOut,
)
from app.api.dates import WindowDate
from app.api.schema import ApiRoute, responses_for
from app.domain.workflow import Move
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import (
    EngagementToDecide,
    EngagementToManagePlan,
    EngagementToNotify,
    EngagementToSubmit,
    EngagementToView,
)
from app.models import Engagement
from app.services import approvals, changes, plan
from app.services import deadlines as deadline_service
from app.services.caller import Caller
from app.services.deadlines import engagement_deadlines
from app.services.plan_view import plan_view

router = APIRouter(
    prefix="/api",
    tags=["plan"],
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


class NoticeIn(BaseModel):
    event: ChangeEvent
    description: str = Field(max_length=10_000)
    aware_date: WindowDate


@router.get("/engagements/{engagement_id}/plan", name="api:plan", response_model=PlanOut)
def get_plan(
    engagement: EngagementToView, db: SessionDep, library: LibraryDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """Where the plan stands: state, the moves open to the caller, and what is missing before submission."""
    view = plan_view(db, library, engagement, principal.actor, today=clock.today())
    return {
        "state": view.case.state,
        "cycle": view.case.cycle,
        "rejections": view.case.rejections,
        "material_default": view.case.material_default,
        "workflow_profile": view.profile.id,
        "moves": [m.value for m in view.moves],
        "missing": [g.to_dict() for g in view.gaps],
        "risks": [risk_json(r) for r in view.risks],
        "register": [entry_json(e) for e in view.entries],
        "submissions": [submission_json(s, d, view.case) for s, d in view.submissions],
    }


@router.post(
    "/engagements/{engagement_id}/risks", name="api:create-risk", status_code=201, response_model=RiskOut
)
def create_risk(
    engagement: EngagementToManagePlan,
    body: RiskIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> JSONResponse:
    risk = plan.save_risk(db, library, engagement, caller, plan.RiskInput(**body.model_dump()))
    db.commit()
    return JSONResponse(risk_json(risk), status_code=201)


@router.put("/engagements/{engagement_id}/risks/{risk_id}", name="api:update-risk", response_model=RiskOut)
def update_risk(
    engagement_id: str,
    risk_id: str,
    engagement: EngagementToManagePlan,
    body: RiskIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    risk = plan.save_risk(
        db, library, engagement, caller, plan.RiskInput(**body.model_dump()), risk_id=risk_id
    )
    db.commit()
    return risk_json(risk)


@router.delete("/engagements/{engagement_id}/risks/{risk_id}", name="api:delete-risk", status_code=204)
def delete_risk(
    engagement_id: str,
    risk_id: str,
    engagement: EngagementToManagePlan,
    db: SessionDep,
    caller: auth.CurrentCaller,
    expected_version: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Remove a risk; with `expected_version`, only if nobody saved it since (409 otherwise)."""
    plan.delete_risk(db, engagement, caller, risk_id, expected_version=expected_version)
    db.commit()
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
    engagement: EngagementToManagePlan, body: EntryIn, db: SessionDep, caller: auth.CurrentCaller
) -> JSONResponse:
    entry = plan.save_entry(db, engagement, caller, _entry_input(body))
    db.commit()
    return JSONResponse(entry_json(entry), status_code=201)


@router.put(
    "/engagements/{engagement_id}/register/{entry_id}", name="api:update-entry", response_model=EntryOut
)
def update_entry(
    engagement_id: str,
    entry_id: str,
    engagement: EngagementToManagePlan,
    body: EntryIn,
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    entry = plan.save_entry(db, engagement, caller, _entry_input(body), entry_id=entry_id)
    db.commit()
    return entry_json(entry)


@router.put(
    "/engagements/{engagement_id}/incident-process", name="api:incident-process", response_model=IncidentOut
)
def put_incident_process(
    engagement: EngagementToManagePlan, body: IncidentIn, db: SessionDep, caller: auth.CurrentCaller
) -> dict[str, Any]:
    process = plan.save_incident_process(
        db,
        engagement,
        caller,
        document=body.document,
        contacts=[c.model_dump() for c in body.contacts],
        report_loss_hours=body.report_loss_hours,
        trace_loss_hours=body.trace_loss_hours,
        expected_version=body.expected_version,
    )
    db.commit()
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
    engagement: EngagementToManagePlan, body: RolesIn, db: SessionDep, caller: auth.CurrentCaller
) -> dict[str, Any]:
    people = [p.model_dump() for p in body.people]
    rows = plan.save_security_roles(db, engagement, caller, people, expected_version=body.expected_version)
    db.commit()
    return {
        "people": [
            {"kind": r.kind, "name": r.name, "email": r.email, "phone": r.phone, "board_level": r.board_level}
            for r in rows
        ],
        "version": plan.roles_version(db, engagement.id),
    }


@router.get("/engagements/{engagement_id}/submissions", name="api:submissions", response_model=SubmissionsOut)
def list_submissions(engagement: EngagementToView, db: SessionDep) -> dict[str, Any]:
    case = approvals.case_row(db, engagement.id)
    return {
        "submissions": [
            submission_json(s, approvals.decision_for(db, s.id), case)
            for s in approvals.submissions(db, engagement.id)
        ]
    }


@router.post(
    "/engagements/{engagement_id}/submissions",
    name="api:submit",
    status_code=201,
    response_model=SubmittedOut,
    responses=STATE_CONFLICT,
)
def submit(
    engagement: EngagementToSubmit,
    body: SubmitIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> JSONResponse:
    """Submit the plan. 422 lists everything missing (`details.missing`), and nothing is recorded."""
    submission = approvals.submit(
        db,
        library,
        engagement,
        caller,
        officer_name=body.officer_name,
        officer_role=body.officer_role,
        confirmed=body.declaration_confirmed,
        today=clock.today(),
    )
    db.commit()
    body_json = submission_json(submission, None, approvals.case_row(db, engagement.id))
    return JSONResponse({**body_json, "state": body_json["plan_state"]}, status_code=201)


def _advisor_move(db: SessionDep, engagement: Engagement, caller: Caller, step: Move) -> dict[str, Any]:
    case = approvals.advisor_move(db, engagement, caller, step)
    db.commit()
    return {"state": case.state.value}


@router.post(
    "/engagements/{engagement_id}/dispute/resolve",
    name="api:resolve-dispute",
    response_model=StateOut,
    responses=STATE_CONFLICT,
)
def resolve_dispute(
    engagement: EngagementToDecide, db: SessionDep, caller: auth.CurrentCaller
) -> dict[str, Any]:
    """Record that the Dispute Resolution Procedure ended: the supplier revises the plan again."""
    return _advisor_move(db, engagement, caller, Move.RESOLVE_DISPUTE)


@router.post(
    "/engagements/{engagement_id}/termination",
    name="api:terminate",
    response_model=StateOut,
    responses=STATE_CONFLICT,
)
def terminate(engagement: EngagementToDecide, db: SessionDep, caller: auth.CurrentCaller) -> dict[str, Any]:
    """Record termination after a material Default (Schedule 2.4 para 4.7)."""
    return _advisor_move(db, engagement, caller, Move.TERMINATE)


@router.get(
    "/engagements/{engagement_id}/change-notices", name="api:change-notices", response_model=NoticesOut
)
def list_notices(engagement: EngagementToView, db: SessionDep) -> dict[str, Any]:
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
    engagement: EngagementToNotify, body: NoticeIn, db: SessionDep, caller: auth.CurrentCaller
) -> JSONResponse:
    """File a change notice (para 5.2 events a-i, or `certification` for 6.6); late after 2 Working Days."""
    notice = changes.file_notice(
        db,
        engagement,
        caller,
        event=body.event,
        description=body.description,
        aware_on=body.aware_date.isoformat(),
        today=clock.today(),
    )
    db.commit()
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
def deadlines(engagement: EngagementToView, db: SessionDep) -> dict[str, Any]:
    """Computed deadlines, each with the rule and clause that produced it and its state."""
    return {"deadlines": [d.to_dict() for d in engagement_deadlines(db, engagement, today=clock.today())]}


class IsmsIn(BaseModel):
    submitted_on: WindowDate = Field(description="The day the ISMS was submitted for Approval")


class IsmsOut(Out):
    engagement_id: str
    isms_submitted_on: date


@router.put("/engagements/{engagement_id}/isms-submission", name="api:record-isms", response_model=IsmsOut)
def record_isms(
    engagement: EngagementToSubmit, body: IsmsIn, db: SessionDep, caller: auth.CurrentCaller
) -> dict[str, Any]:
    """Supplier leads: the day the ISMS was submitted for Approval (Call Off Schedule 7 long form
    para 3.1); it meets the ISMS deadline. 422 for another contract or form, or a day after today."""
    done = deadline_service.record_isms_submission(
        db, caller, engagement, submitted_on=body.submitted_on, today=clock.today()
    )
    db.commit()
    assert done.isms_submitted_on is not None
    return {"engagement_id": done.id, "isms_submitted_on": done.isms_submitted_on}
