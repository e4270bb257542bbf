"""The approval workflow: check and submit the plan, decide it (ISAS or rejection notice),
resolve disputes, record termination, and read back what was decided.

Every move goes through app.domain.workflow.transition and leaves a Transition row. Each use case
(`submit`, `decide`, `add_comment`, `advisor_move`) takes the `Caller`, applies the rule, records
its one audit event in the same transaction and flushes; the HTTP layer only commits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, func, select

from app.domain.access import Action, Actor, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Control, Criticality, Library
from app.domain.errors import Conflict, Denied, InvalidInput
from app.domain.submissions import canonical, fingerprint
from app.domain.workflow import Case, Move, State, consequence_of, profile, transition
from app.models import (
    ControlResponse,
    Decision,
    Engagement,
    PlanCase,
    ReviewComment,
    Submission,
    Transition,
    User,
    utcnow,
)
from app.services import events, plan
from app.services.caller import Caller
from app.services.engagements import (
    applicability,
    catalogue_ids,
    engagement_controls,
    parties,
    scoping_answers,
)
from app.services.evidence import links_by_control
from app.services.responses import responses_by_control

MAX_REASON = 20_000


# Where the plan stands ---------------------------------------------------------------------------


def case_row(session: Session, engagement_id: str) -> PlanCase:
    return session.get(PlanCase, engagement_id) or PlanCase(engagement_id=engagement_id)


def case_of(row: PlanCase) -> Case:
    return Case(State(row.state), row.cycle, row.rejections, row.material_default)


def move(
    session: Session, engagement: Engagement, actor: Actor, step: Move, *, submission_id: str | None = None
) -> Case:
    """Apply one guarded move and record it."""
    row = case_row(session, engagement.id)
    before = case_of(row)
    after = transition(before, step, actor.role, profile(engagement.workflow_profile))
    row.state, row.cycle, row.rejections = after.state, after.cycle, after.rejections
    row.material_default, row.updated_at = after.material_default, utcnow()
    session.add(row)
    session.add(
        Transition(
            engagement_id=engagement.id,
            move=step,
            from_state=before.state,
            to_state=after.state,
            submission_id=submission_id,
            actor_id=actor.user_id,
        )
    )
    session.flush()
    return after


ADVISOR_MOVES = {
    Move.RESOLVE_DISPUTE: AuditAction.DISPUTE_RESOLVED,
    Move.TERMINATE: AuditAction.TERMINATION_RECORDED,
}


def advisor_move(session: Session, engagement: Engagement, caller: Caller, step: Move | str) -> Case:
    """Buyer advisors: record that the Dispute Resolution Procedure ended (the supplier revises the
    plan again) or record termination after a material Default (Schedule 2.4 para 4.7), audited."""
    if step not in {m.value for m in ADVISOR_MOVES}:
        raise InvalidInput("Choose to resolve the dispute or to record termination.")
    step = Move(step)
    if not can(caller.actor, Action.DECIDE_SUBMISSION, parties(engagement)):
        raise Denied(
            "Only the buyer's security advisors record this.",
            action=Action.DECIDE_SUBMISSION,
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    after = move(session, engagement, caller.actor, step)
    caller.record(
        session,
        ADVISOR_MOVES[step],
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    session.flush()
    return after


# Pre-submission check and snapshot ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """Something missing from the plan, with where to fix it."""

    code: str
    message: str
    target: str  # control | risks | incident | roles
    control_id: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "message": self.message,
            "target": self.target,
            "control_id": self.control_id,
        }


def answer_gaps(control: Control, response: ControlResponse) -> list[Gap]:
    """What one answer lacks before the plan can go to the buyer.

    Schedule 2.4 paras 4.1 and 4.3 (the plan sets out in sufficient detail how the supplier
    complies) and the Required Changes Register definition (each change with the date by which it
    will be implemented): "met" says how it is met (an implementation statement); "partially
    met" and "not met" say what will change and by when (a planned change and a target date)."""
    gaps: list[Gap] = []
    if response.status == "met" and not response.statement.strip():
        gaps.append(
            Gap(
                "no_statement",
                f"{control.id} is marked met without an implementation statement: say how it is met.",
                "control",
                control.id,
            )
        )
    if response.status in ("partially_met", "not_met"):
        lacking = [
            what
            for what, present in (
                ("a planned change", bool(response.planned_change.strip())),
                ("a target date", response.target_on is not None),
            )
            if not present
        ]
        if lacking:
            label = "partially met" if response.status == "partially_met" else "not met"
            gaps.append(
                Gap(
                    "no_plan",
                    f"{control.id} is {label} without {' or '.join(lacking)}: say what will change"
                    " and by when.",
                    "control",
                    control.id,
                )
            )
    return gaps


def plan_gaps(session: Session, library: Library, engagement: Engagement) -> list[Gap]:
    """What is missing from the plan before it can be submitted (empty: ready)."""
    return snapshot(session, library, engagement)[1]


def snapshot(session: Session, library: Library, engagement: Engagement) -> tuple[dict[str, Any], list[Gap]]:
    """The plan as it stands, in the submission's form, and what is missing from it."""
    gaps: list[Gap] = []
    answers = scoping_answers(session, engagement.id)
    responses = responses_by_control(session, engagement.id)
    evidence = links_by_control(session, engagement.id)
    rows = []
    for control in engagement_controls(library, catalogue_ids(session, engagement.id)):
        applicable, _reason = applicability(control, answers, library)
        if not applicable:
            continue
        response = responses.get(control.id)
        information = control.criticality is Criticality.INFORMATION
        if response is None:
            if not information:  # information only: not a supplier obligation (readiness agrees)
                gaps.append(
                    Gap("unanswered", f"{control.id} {control.title} is not answered.", "control", control.id)
                )
            continue
        if response.status == "not_applicable" and not response.justification.strip():
            gaps.append(
                Gap(
                    "unjustified",
                    f"{control.id} is marked not applicable without a reason.",
                    "control",
                    control.id,
                )
            )
        if not information:
            gaps.extend(answer_gaps(control, response))
        rows.append(
            {
                "control_id": control.id,
                "title": control.title,
                "status": response.status,
                "statement": response.statement,
                "justification": response.justification,
                "planned_change": response.planned_change,
                "target_date": response.target_on.isoformat() if response.target_on else None,
                "evidence": [
                    {"id": e.id, "title": e.title, "sha256": e.sha256, "expires_on": _iso(e.expires_on)}
                    for e in evidence.get(control.id, ())
                ],
            }
        )
    risks = plan.risks(session, engagement.id)
    if not risks:
        gaps.append(Gap("no_risks", "The risk register is empty: record the risks you identified.", "risks"))
    process = plan.incident_process(session, engagement.id)
    if process is None:
        gaps.append(Gap("no_incident_process", "There is no Incident Management Process.", "incident"))
    elif (limits := plan.incident_limits(session, engagement.id)) is not None and (
        process.report_loss_hours is None
        or process.trace_loss_hours is None
        or process.report_loss_hours > limits.report_hours
        or process.trace_loss_hours > limits.trace_hours
    ):
        # Saved before the CPS Security Policy was added to the engagement: its hours now apply.
        gaps.append(
            Gap(
                "incident_hours",
                f"The Incident Management Process must commit to {limits.clause}'s limits: report"
                f" lost buyer material within {limits.report_hours} hours and trace it within"
                f" {limits.trace_hours} hours at most.",
                "incident",
            )
        )
    roles = plan.security_roles(session, engagement.id)
    if not any(r.kind == "designated_security_contact" for r in roles):
        gaps.append(Gap("no_security_contact", "Name the designated security contact (para 3.5).", "roles"))
    data = {
        "engagement": {
            "id": engagement.id,
            "reference": engagement.reference,
            "title": engagement.title,
            "workflow_profile": engagement.workflow_profile,
            "buyer_org_id": engagement.buyer_org_id,
            "supplier_org_id": engagement.supplier_org_id,
        },
        "scoping": answers,
        "responses": rows,
        "risks": [
            {
                "id": r.id,
                "title": r.title,
                "description": r.description,
                "control_ids": r.control_ids.split(),
                "likelihood": r.likelihood,
                "impact": r.impact,
                "treatment": r.treatment,
                "owner": r.owner,
                "residual_likelihood": r.residual_likelihood,
                "residual_impact": r.residual_impact,
            }
            for r in risks
        ],
        "register": [
            {
                "id": e.id,
                "title": e.title,
                "description": e.description,
                "source": e.source,
                "control_id": e.control_id,
                "agreed_on": _iso(e.agreed_on),
                "implemented_on": _iso(e.implemented_on),
                "status": e.status,
            }
            for e in plan.register_entries(session, engagement.id)
        ],
        "incident": None
        if process is None
        else {
            "document": process.document,
            "contacts": plan.contacts_of(process),
            "report_loss_hours": process.report_loss_hours,
            "trace_loss_hours": process.trace_loss_hours,
        },
        "roles": [
            {"kind": r.kind, "name": r.name, "email": r.email, "phone": r.phone, "board_level": r.board_level}
            for r in roles
        ],
    }
    return data, gaps


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def submissions(session: Session, engagement_id: str) -> list[Submission]:
    query = (
        select(Submission).where(Submission.engagement_id == engagement_id).order_by(col(Submission.version))
    )
    return list(session.exec(query))


def submit(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    *,
    officer_name: str,
    officer_role: str,
    confirmed: bool,
    today: date,
) -> Submission:
    """Check the plan, then freeze it as the next version, audited. Refuses with every gap listed."""
    actor = caller.actor
    if not can(actor, Action.SUBMIT_PLAN, parties(engagement)):
        raise Denied(
            "Only the supplier's security lead submits the plan.",
            action=Action.SUBMIT_PLAN,
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    officer_name, officer_role = " ".join(officer_name.split()), " ".join(officer_role.split())
    problems: dict[str, str] = {}
    if not confirmed:
        problems["confirmed"] = "Confirm the declaration before submitting."
    if not 1 <= len(officer_name) <= 200:
        problems["officer_name"] = "Name the board-level officer who signs off the plan."
    if not 1 <= len(officer_role) <= 200:
        problems["officer_role"] = "Give the officer's board-level role."
    data, gaps = snapshot(session, library, engagement)
    if gaps:
        raise InvalidInput(
            f"The plan is not ready to submit: {len(gaps)} thing(s) missing.",
            details={"missing": [g.to_dict() for g in gaps], **problems},
        )
    if problems:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    after = move(session, engagement, actor, Move.SUBMIT)
    version = (
        session.exec(
            select(func.max(Submission.version)).where(Submission.engagement_id == engagement.id)
        ).one()
        or 0
    ) + 1
    data.update(
        {
            "version": version,
            "cycle": after.cycle,
            "submitted_on": today.isoformat(),
            "declaration": {"officer_name": officer_name, "officer_role": officer_role},
        }
    )
    submission = Submission(
        engagement_id=engagement.id,
        version=version,
        cycle=after.cycle,
        snapshot=canonical(data).decode(),
        sha256=fingerprint(data),
        officer_name=officer_name,
        officer_role=officer_role,
        submitted_by_id=actor.user_id,
        submitted_on=today,
    )
    session.add(submission)
    session.flush()
    last = session.exec(
        select(Transition)
        .where(Transition.engagement_id == engagement.id)
        .order_by(col(Transition.id).desc())
    ).first()
    if last is not None:
        last.submission_id = submission.id
        session.add(last)
    caller.record(
        session,
        AuditAction.PLAN_SUBMITTED,
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"version": submission.version, "sha256": submission.sha256},
    )
    events.notify(session, events.plan_submitted(session, engagement, submission, actor.user_id))
    session.flush()
    return submission


def data_of(submission: Submission) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(submission.snapshot)
    return value


def previous(session: Session, submission: Submission) -> Submission | None:
    query = select(Submission).where(
        Submission.engagement_id == submission.engagement_id, Submission.version == submission.version - 1
    )
    return session.exec(query).first()


# Decisions ------------------------------------------------------------------------------------------


def decision_for(session: Session, submission_id: str) -> Decision | None:
    return session.exec(select(Decision).where(Decision.submission_id == submission_id)).first()


def decisions(session: Session, engagement_id: str) -> list[Decision]:
    query = select(Decision).where(Decision.engagement_id == engagement_id).order_by(col(Decision.decided_at))
    return list(session.exec(query))


def _number(session: Session, approved: bool, today: date) -> str:
    prefix = f"{'ISAS' if approved else 'RN'}-{today.year}-"
    count = session.exec(select(func.count()).where(col(Decision.number).startswith(prefix))).one()
    return f"{prefix}{count + 1:04d}"


def decide(
    session: Session,
    engagement: Engagement,
    submission: Submission,
    caller: Caller,
    *,
    approve: bool,
    reasons: str = "",
    control_reasons: dict[str, str] | None = None,
    conditions: str = "",
    residual_risks_accepted: bool = False,
    advisor_role: str = "Security advisor",
    acknowledge_outstanding: bool = False,
    library: Library,
    today: date,
) -> Decision:
    """Issue an ISAS (Schedule 2.4 para 4.5(a)) or a rejection notice with reasons (4.5(b)), audited.

    Approving while blockers are open (every blocker of the engagement but the ISAS itself:
    app.services.readiness.outstanding_at_approval) needs `acknowledge_outstanding`; without it
    the approval is refused (InvalidInput naming each one) and nothing is written. With it, the
    decision keeps them as its outstanding conditions, the `plan_approved` event lists them and
    the statement shows them instead of saying buyer data may be processed."""
    actor = caller.actor
    if not can(actor, Action.DECIDE_SUBMISSION, parties(engagement)):
        raise Denied(
            "Only the buyer's security advisors decide a plan.",
            action=Action.DECIDE_SUBMISSION,
            object_type="submission",
            object_id=submission.id,
            engagement_id=engagement.id,
        )
    control_reasons = {k: v.strip() for k, v in (control_reasons or {}).items() if v and v.strip()}
    problems: dict[str, str] = {}
    known = {r["control_id"] for r in data_of(submission)["responses"]}
    unknown = sorted(set(control_reasons) - known)
    if unknown:
        problems["control_reasons"] = f"Not controls of this submission: {', '.join(unknown)}."
    if not approve and not reasons.strip():
        problems["reasons"] = "Give the reasons for rejecting the plan (Schedule 2.4 para 4.5(b))."
    if approve and not residual_risks_accepted:
        problems["residual_risks_accepted"] = "Confirm that the residual risks are accepted before approving."
    if len(reasons) > MAX_REASON or len(conditions) > MAX_REASON:
        problems["reasons"] = f"Keep reasons and conditions under {MAX_REASON} characters."
    outstanding: list[dict[str, str]] = []
    details: dict[str, Any] = {}
    current = case_row(session, engagement.id)
    latest = submissions(session, engagement.id)[-1]
    decidable = (
        latest.id == submission.id
        and decision_for(session, submission.id) is None
        and current.state == State.SUBMITTED
    )
    if approve and decidable:  # otherwise the Conflict below answers
        # Imported here: readiness reads this module (the current ISAS), so a top-level import would loop.
        from app.services.readiness import outstanding_at_approval

        outstanding = [
            {"kind": b.kind.value, "clause": b.clause, "control_id": b.control_id, "message": b.message}
            for b in outstanding_at_approval(session, library, engagement, today=today)
        ]
        if outstanding and not acknowledge_outstanding:
            named = "; ".join(o["message"] for o in outstanding)
            problems["acknowledge_outstanding"] = (
                f"{len(outstanding)} blocker(s) are still open: {named}. Acknowledge them to approve with"
                " them outstanding (the statement will list them), or reject the plan."
            )
            details["outstanding"] = [o["message"] for o in outstanding]
    if problems:
        raise InvalidInput(next(iter(problems.values())), details={**problems, **details})
    if latest.id != submission.id or decision_for(session, submission.id) is not None:
        raise Conflict(f"Version {submission.version} has already been decided or superseded.")
    if current.state != State.SUBMITTED:
        raise Conflict(f"Cannot decide a plan that is {current.state}.")
    after = move(
        session, engagement, actor, Move.APPROVE if approve else Move.REJECT, submission_id=submission.id
    )
    advisor = session.get(User, actor.user_id)
    consequence = consequence_of(after)
    decision = Decision(
        submission_id=submission.id,
        engagement_id=engagement.id,
        number=_number(session, approve, today),
        approved=approve,
        reasons=reasons.strip(),
        conditions=conditions.strip(),
        control_reasons=json.dumps(control_reasons, sort_keys=True),
        consequence=consequence,
        advisor_id=actor.user_id,
        advisor_name=advisor.name if advisor else "",
        advisor_role=" ".join(advisor_role.split())[:200] or "Security advisor",
        decided_on=today,
        outstanding=json.dumps(outstanding),
    )
    session.add(decision)
    session.flush()
    audited: dict[str, Any] = {
        "number": decision.number,
        "sha256": submission.sha256,
        "consequence": decision.consequence,
    }
    if outstanding:
        audited["outstanding"] = [o["message"] for o in outstanding]
    caller.record(
        session,
        AuditAction.PLAN_APPROVED if decision.approved else AuditAction.PLAN_REJECTED,
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details=audited,
    )
    events.notify(session, events.plan_decided(session, engagement, submission, decision, actor.user_id))
    session.flush()
    return decision


def control_reasons_of(decision: Decision) -> dict[str, str]:
    value: dict[str, str] = json.loads(decision.control_reasons)
    return value


def outstanding_of(decision: Decision) -> list[dict[str, str]]:
    """The blockers the advisor acknowledged as outstanding when approving (kind, clause,
    control_id, message each); empty for a rejection or an approval with none open."""
    value: list[dict[str, str]] = json.loads(decision.outstanding or "[]")
    return value


def open_rejection(session: Session, engagement_id: str) -> Decision | None:
    """The rejection notice the supplier is answering now, if the plan is being revised."""
    row = case_row(session, engagement_id)
    if row.state not in (State.REJECTED, State.DISPUTE):
        return None
    query = (
        select(Decision)
        .where(Decision.engagement_id == engagement_id, col(Decision.approved).is_(False))
        .order_by(col(Decision.decided_at).desc())
    )
    return session.exec(query).first()


def current_isas(session: Session, engagement_id: str) -> Decision | None:
    """The latest ISAS, unless the engagement was terminated."""
    if case_row(session, engagement_id).state == State.TERMINATED:
        return None
    query = (
        select(Decision)
        .where(Decision.engagement_id == engagement_id, col(Decision.approved).is_(True))
        .order_by(col(Decision.decided_at).desc())
    )
    return session.exec(query).first()


def add_comment(
    session: Session,
    engagement: Engagement,
    submission: Submission,
    caller: Caller,
    *,
    control_id: str,
    body: str,
) -> ReviewComment:
    """An advisor's comment on one control of a submission, audited."""
    if not can(caller.actor, Action.DECIDE_SUBMISSION, parties(engagement)):
        raise Denied(
            "Only the buyer's security advisors comment on a submission.",
            action=Action.DECIDE_SUBMISSION,
            object_type="submission",
            object_id=submission.id,
            engagement_id=engagement.id,
        )
    body = body.strip()
    if not body or len(body) > MAX_REASON:
        raise InvalidInput("Write a comment (up to 20,000 characters).", details={"body": "Write a comment."})
    if control_id not in {r["control_id"] for r in data_of(submission)["responses"]}:
        raise InvalidInput(
            f"{control_id} is not in this submission.", details={"control_id": "Unknown control."}
        )
    comment = ReviewComment(
        submission_id=submission.id, control_id=control_id, body=body, author_id=caller.actor.user_id
    )
    session.add(comment)
    session.flush()
    caller.record(
        session,
        AuditAction.REVIEW_COMMENT_ADDED,
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"control_id": control_id},
    )
    events.notify(session, events.comment_added(session, engagement, submission, comment, caller.actor.role))
    session.flush()
    return comment


def comments(session: Session, submission_id: str) -> dict[str, list[ReviewComment]]:
    query = (
        select(ReviewComment)
        .where(ReviewComment.submission_id == submission_id)
        .order_by(col(ReviewComment.created_at))
    )
    out: dict[str, list[ReviewComment]] = {}
    for comment in session.exec(query):
        out.setdefault(comment.control_id, []).append(comment)
    return out
