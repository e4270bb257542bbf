"""The plan overview: everything the plan page and `GET /api/engagements/{id}/plan` show, composed
once (where the plan stands, the moves open to the caller, what is missing, the plan's parts, its
submissions with their decisions, change notices and deadlines)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.domain.access import Action, Actor, can
from app.domain.catalogue import Library
from app.domain.deadlines import Deadline
from app.domain.workflow import Move, Profile, allowed_moves
from app.models import (
    ChangeNotice,
    Decision,
    Engagement,
    IncidentProcess,
    Organisation,
    PlanCase,
    RegisterEntry,
    Risk,
    SecurityRole,
    Submission,
)
from app.services import approvals, changes, plan
from app.services.deadlines import engagement_deadlines, profile_of
from app.services.engagements import parties


@dataclass(frozen=True, slots=True)
class PlanView:
    engagement: Engagement
    supplier: str
    case: PlanCase
    profile: Profile
    moves: list[Move]
    gaps: list[approvals.Gap]
    risks: list[Risk]
    heat: list[list[int]]
    residual_heat: list[list[int]]
    entries: list[RegisterEntry]
    process: IncidentProcess | None
    contacts: list[dict[str, str]]
    incident_limits: plan.IncidentLimits | None
    roles: list[SecurityRole]
    roles_version: int
    submissions: list[tuple[Submission, Decision | None]]
    notices: list[ChangeNotice]
    deadlines: list[Deadline]
    can_manage: bool


def plan_view(
    session: Session, library: Library, engagement: Engagement, actor: Actor, *, today: date
) -> PlanView:
    """The plan of `engagement` as `actor` sees it (the caller already may view the engagement)."""
    row = approvals.case_row(session, engagement.id)
    prof = profile_of(engagement)
    risks = plan.risks(session, engagement.id)
    process = plan.incident_process(session, engagement.id)
    supplier = session.get(Organisation, engagement.supplier_org_id)
    return PlanView(
        engagement=engagement,
        supplier=supplier.name if supplier else "",
        case=row,
        profile=prof,
        moves=list(allowed_moves(approvals.case_of(row), actor.role, prof)),
        gaps=approvals.plan_gaps(session, library, engagement),
        risks=risks,
        heat=plan.heat_map(risks),
        residual_heat=plan.heat_map(risks, residual=True),
        entries=plan.register_entries(session, engagement.id),
        process=process,
        contacts=plan.contacts_of(process),
        incident_limits=plan.incident_limits(session, engagement.id),
        roles=plan.security_roles(session, engagement.id),
        roles_version=plan.roles_version(session, engagement.id),
        submissions=[
            (s, approvals.decision_for(session, s.id)) for s in approvals.submissions(session, engagement.id)
        ],
        notices=changes.notices(session, engagement.id),
        deadlines=engagement_deadlines(session, engagement, today=today),
        can_manage=can(actor, Action.MANAGE_PLAN, parties(engagement)),
    )
