"""Pages of the approval workflow: the plan (supplier), the review queue and review page
(buyer advisors), statements and their public verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app import clock
from app.domain.access import Action, can
from app.domain.errors import Forbidden, InvalidInput
from app.domain.submissions import diff
from app.domain.workflow import Move, allowed_moves, profile
from app.models import Engagement, Organisation
from app.services import approvals, calendars, changes, plan
from app.services.deadlines import engagement_deadlines, review_queue
from app.services.engagements import parties
from app.web import auth, documents
from app.web.deps import LibraryDep, SessionDep
from app.web.loaders import engagement_for, submission_for
from app.web.templating import render

router = APIRouter(include_in_schema=False)
SCALE = [(str(n), str(n)) for n in range(1, 6)]


def plan_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    *,
    errors: dict[str, str] | None = None,
    missing: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    row = approvals.case_row(db, engagement.id)
    prof = profile(engagement.workflow_profile)
    _data, gaps = approvals.snapshot(db, library, engagement)
    risks = plan.risks(db, engagement.id)
    process = plan.incident_process(db, engagement.id)
    supplier = db.get(Organisation, engagement.supplier_org_id)
    context = {
        "engagement": engagement,
        "supplier": supplier.name if supplier else "",
        "case": row,
        "profile": prof,
        "moves": [m.value for m in allowed_moves(approvals.case_of(row), principal.user.role, prof)],
        "gaps": gaps,
        "risks": risks,
        "heat": plan.heat_map(risks),
        "residual_heat": plan.heat_map(risks, residual=True),
        "entries": plan.register_entries(db, engagement.id),
        "process": process,
        "contacts": plan.contacts_of(process),
        "incident_limits": plan.incident_limits(db, engagement.id),
        "roles": plan.security_roles(db, engagement.id),
        "roles_version": plan.roles_version(db, engagement.id),
        "role_kinds": plan.ROLE_KINDS,
        "submissions": [
            (s, approvals.decision_for(db, s.id)) for s in approvals.submissions(db, engagement.id)
        ],
        "notices": changes.notices(db, engagement.id),
        "events": changes.EVENTS,
        "deadlines": engagement_deadlines(db, engagement, today=clock.today()),
        "can_manage": can(principal.actor, Action.MANAGE_PLAN, parties(engagement)),
        "scale": SCALE,
        "errors": errors or {},
        "missing": missing,
    }
    return render(request, "approvals/plan.html", context, status_code=status_code)


def _refused(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    error: InvalidInput,
) -> Response:
    """Nothing of the refused change is kept; the plan page shows why, with status 422."""
    db.rollback()
    return plan_page(
        request, db, library, principal, engagement, errors=dict(error.details or {}), status_code=422
    )


@router.get("/engagements/{engagement_id}/plan", name="approvals:plan")
def show_plan(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement = engagement_for(request, db, principal, engagement_id)
    return plan_page(request, db, library, principal, engagement)


def _int(form: FormData, name: str, problems: dict[str, str]) -> int:
    try:
        return int(str(form.get(name, "")))
    except ValueError:
        problems[name] = f"Choose a {name.replace('_', ' ')} from 1 to 5."
        return 0


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, ""))


def _hours(form: FormData, name: str) -> int | None:
    """Whole hours, or None when left empty (the service decides what an empty field means)."""
    value = _text(form, name).strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput("Enter whole hours.", details={name: "Enter whole hours."}) from None


def _expected_version(form: FormData) -> int | None:
    """The version the form was rendered from (a hidden field); absent means no check."""
    value = _text(form, "expected_version")
    return int(value) if value.isdigit() else None


def _back(request: Request, engagement: Engagement, anchor: str) -> RedirectResponse:
    url = str(request.url_for("approvals:plan", engagement_id=engagement.id)) + f"#{anchor}"
    return RedirectResponse(url, status_code=303)


async def _plan_form(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement_id: str,
    action: Action = Action.MANAGE_PLAN,
) -> tuple[Engagement, FormData]:
    engagement = engagement_for(request, db, principal, engagement_id, action)
    return engagement, await request.form()


def _saved(
    request: Request,
    db: SessionDep,
    principal: auth.Principal,
    engagement: Engagement,
    what: str,
    object_type: str,
    object_id: str,
    anchor: str,
    **details: Any,
) -> RedirectResponse:
    auth.record(
        request,
        db,
        principal,
        what,
        object_type=object_type,
        object_id=object_id,
        engagement_id=engagement.id,
        details=details or None,
    )
    db.commit()
    return _back(request, engagement, anchor)


@router.post("/engagements/{engagement_id}/plan/risks", name="approvals:save-risk")
async def save_risk(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, form = await _plan_form(request, db, library, principal, engagement_id)
    problems: dict[str, str] = {}
    values = {
        n: _int(form, n, problems) for n in ("likelihood", "impact", "residual_likelihood", "residual_impact")
    }
    try:
        if problems:
            raise InvalidInput(next(iter(problems.values())), details=problems)
        data = plan.RiskInput(
            title=_text(form, "title"),
            description=_text(form, "description"),
            control_ids=_text(form, "control_ids").replace(",", " ").split(),
            treatment=_text(form, "treatment"),
            owner=_text(form, "owner"),
            expected_version=_expected_version(form),
            **values,
        )
        risk = plan.save_risk(
            db, library, engagement, principal.actor, data, risk_id=_text(form, "risk_id") or None
        )
    except InvalidInput as error:
        return _refused(request, db, library, principal, engagement, error)
    return _saved(request, db, principal, engagement, "risk_saved", "risk", risk.id, "risks")


@router.post("/engagements/{engagement_id}/plan/risks/{risk_id}/delete", name="approvals:delete-risk")
async def delete_risk(
    request: Request,
    engagement_id: str,
    risk_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, form = await _plan_form(request, db, library, principal, engagement_id)
    plan.delete_risk(db, engagement, principal.actor, risk_id, expected_version=_expected_version(form))
    return _saved(request, db, principal, engagement, "risk_deleted", "risk", risk_id, "risks")


@router.post("/engagements/{engagement_id}/plan/register", name="approvals:save-entry")
async def save_entry(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, form = await _plan_form(request, db, library, principal, engagement_id)
    data = plan.EntryInput(
        title=_text(form, "title"),
        description=_text(form, "description"),
        control_id=_text(form, "control_id") or None,
        agreed_on=_text(form, "agreed_on") or None,
        implemented_on=_text(form, "implemented_on") or None,
        status=_text(form, "status") or "planned",
        expected_version=_expected_version(form),
    )
    try:
        entry = plan.save_entry(
            db, engagement, principal.actor, data, entry_id=_text(form, "entry_id") or None
        )
    except InvalidInput as error:
        return _refused(request, db, library, principal, engagement, error)
    return _saved(
        request, db, principal, engagement, "register_entry_saved", "register_entry", entry.id, "register"
    )


@router.post("/engagements/{engagement_id}/plan/register/from-gaps", name="approvals:entries-from-gaps")
async def entries_from_gaps(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, _form = await _plan_form(request, db, library, principal, engagement_id)
    created = plan.entries_from_gaps(db, engagement, principal.actor)
    return _saved(
        request,
        db,
        principal,
        engagement,
        "register_entries_from_gaps",
        "engagement",
        engagement.id,
        "register",
        created=len(created),
    )


@router.post("/engagements/{engagement_id}/plan/incident", name="approvals:save-incident")
async def save_incident(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, form = await _plan_form(request, db, library, principal, engagement_id)
    contacts = [
        {k: _text(form, f"contact_{k}_{i}") for k in ("name", "role", "email", "phone")} for i in range(4)
    ]
    try:
        plan.set_incident_process(
            db,
            engagement,
            principal.actor,
            document=_text(form, "document"),
            contacts=contacts,
            report_loss_hours=_hours(form, "report_loss_hours"),
            trace_loss_hours=_hours(form, "trace_loss_hours"),
            expected_version=_expected_version(form),
        )
    except (InvalidInput, ValueError) as error:
        db.rollback()
        details = (
            dict(error.details or {})
            if isinstance(error, InvalidInput)
            else {"report_loss_hours": "Enter hours."}
        )
        return plan_page(request, db, library, principal, engagement, errors=details, status_code=422)
    return _saved(
        request, db, principal, engagement, "incident_process_saved", "engagement", engagement.id, "incident"
    )


@router.post("/engagements/{engagement_id}/plan/roles", name="approvals:save-roles")
async def save_roles(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, form = await _plan_form(request, db, library, principal, engagement_id)
    people = [
        {
            "kind": _text(form, f"role_kind_{i}"),
            "name": _text(form, f"role_name_{i}"),
            "email": _text(form, f"role_email_{i}"),
            "phone": _text(form, f"role_phone_{i}"),
            "board_level": _text(form, f"role_board_{i}") == "yes",
        }
        for i in range(5)
    ]
    try:
        plan.set_security_roles(
            db, engagement, principal.actor, people, expected_version=_expected_version(form)
        )
    except InvalidInput as error:
        return _refused(request, db, library, principal, engagement, error)
    return _saved(
        request, db, principal, engagement, "security_roles_saved", "engagement", engagement.id, "roles"
    )


@router.post("/engagements/{engagement_id}/plan/submit", name="approvals:submit")
async def submit(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, form = await _plan_form(request, db, library, principal, engagement_id, Action.SUBMIT_PLAN)
    try:
        submission = approvals.submit(
            db,
            library,
            engagement,
            principal.actor,
            officer_name=_text(form, "officer_name"),
            officer_role=_text(form, "officer_role"),
            confirmed=_text(form, "confirmed") == "yes",
            today=clock.today(),
        )
    except InvalidInput as error:
        db.rollback()
        details = dict(error.details or {})
        missing = details.pop("missing", None)
        errors = details or {"submit": error.message}
        return plan_page(
            request, db, library, principal, engagement, errors=errors, missing=missing, status_code=422
        )
    return _saved(
        request,
        db,
        principal,
        engagement,
        "plan_submitted",
        "submission",
        submission.id,
        "submissions",
        version=submission.version,
        sha256=submission.sha256,
    )


@router.post("/engagements/{engagement_id}/plan/change-notices", name="approvals:file-notice")
async def file_notice(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement, form = await _plan_form(request, db, library, principal, engagement_id, Action.NOTIFY_CHANGE)
    try:
        notice = changes.file_notice(
            db,
            engagement,
            principal.actor,
            event=_text(form, "event"),
            description=_text(form, "description"),
            aware_on=_text(form, "aware_on"),
            today=clock.today(),
        )
    except InvalidInput as error:
        db.rollback()
        errors = dict(error.details or {}) or {"event": error.message}
        return plan_page(request, db, library, principal, engagement, errors=errors, status_code=422)
    return _saved(
        request,
        db,
        principal,
        engagement,
        "change_notice_filed",
        "change_notice",
        notice.id,
        "changes",
        number=notice.number,
        late=notice.late,
    )


@router.post("/engagements/{engagement_id}/plan/move", name="approvals:move")
async def record_move(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    """Buyer advisors: resolve a dispute or record termination."""
    engagement, form = await _plan_form(
        request, db, library, principal, engagement_id, Action.DECIDE_SUBMISSION
    )
    step = _text(form, "move")
    if step not in (Move.RESOLVE_DISPUTE.value, Move.TERMINATE.value):
        raise InvalidInput("Choose to resolve the dispute or to record termination.")
    approvals.move(db, engagement, principal.actor, Move(step))
    what = "dispute_resolved" if step == Move.RESOLVE_DISPUTE.value else "termination_recorded"
    return _saved(request, db, principal, engagement, what, "engagement", engagement.id, "status")


# Buyer advisors ------------------------------------------------------------------------------------


@router.get("/reviews", name="approvals:queue")
def queue(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    if not auth.can_act(principal, Action.REVIEW_QUEUE):
        raise Forbidden("The review queue is for buyer security advisors.")
    items = review_queue(db, principal.user.organisation_id, today=clock.today())
    closures = calendars.closure_days(db, principal.user.organisation_id)
    return render(
        request, "approvals/queue.html", {"items": items, "today": clock.today(), "closures": closures}
    )


def review_page(
    request: Request,
    db: SessionDep,
    principal: auth.Principal,
    submission_id: str,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    submission, engagement = submission_for(request, db, principal, submission_id)
    before = approvals.previous(db, submission)
    data = approvals.data_of(submission)
    decision = approvals.decision_for(db, submission.id)
    is_latest = approvals.submissions(db, engagement.id)[-1].id == submission.id
    supplier = db.get(Organisation, engagement.supplier_org_id)
    context = {
        "engagement": engagement,
        "supplier": supplier.name if supplier else "",
        "submission": submission,
        "data": data,
        "previous": before,
        "changes": diff(approvals.data_of(before), data) if before else [],
        "comments": approvals.comments(db, submission.id),
        "decision": decision,
        "control_reasons": approvals.control_reasons_of(decision) if decision else {},
        "can_decide": decision is None
        and is_latest
        and can(principal.actor, Action.DECIDE_SUBMISSION, parties(engagement)),
        "case": approvals.case_row(db, engagement.id),
        "profile": profile(engagement.workflow_profile),
        "due": next(
            (
                d
                for d in engagement_deadlines(db, engagement, today=clock.today())
                if d.kind == "decision_due" and d.object_id == submission.id
            ),
            None,
        ),
        "errors": errors or {},
    }
    return render(request, "approvals/review.html", context, status_code=status_code)


@router.get("/submissions/{submission_id}", name="approvals:review")
def review(
    request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    return review_page(request, db, principal, submission_id)


@router.post("/submissions/{submission_id}/comments", name="approvals:comment")
async def comment(
    request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    submission, engagement = submission_for(request, db, principal, submission_id, Action.DECIDE_SUBMISSION)
    form = await request.form()
    try:
        approvals.add_comment(
            db, submission, principal.actor, control_id=_text(form, "control_id"), body=_text(form, "body")
        )
    except InvalidInput as error:
        db.rollback()
        return review_page(
            request, db, principal, submission_id, errors=dict(error.details or {}), status_code=422
        )
    auth.record(
        request,
        db,
        principal,
        "review_comment_added",
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"control_id": _text(form, "control_id")},
    )
    db.commit()
    url = (
        str(request.url_for("approvals:review", submission_id=submission.id))
        + f"#c-{_text(form, 'control_id')}"
    )
    return RedirectResponse(url, status_code=303)


@router.post("/submissions/{submission_id}/decision", name="approvals:decide")
async def decide(
    request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    submission, engagement = submission_for(request, db, principal, submission_id, Action.DECIDE_SUBMISSION)
    form = await request.form()
    control_reasons = {
        str(k)[len("reason_") :]: str(v)
        for k, v in form.multi_items()
        if str(k).startswith("reason_") and str(v).strip()
    }
    try:
        decision = approvals.decide(
            db,
            engagement,
            submission,
            principal.actor,
            approve=_text(form, "decision") == "approve",
            reasons=_text(form, "reasons"),
            control_reasons=control_reasons,
            conditions=_text(form, "conditions"),
            residual_risks_accepted=_text(form, "residual_risks_accepted") == "yes",
            advisor_role=_text(form, "advisor_role") or "Security advisor",
            today=clock.today(),
        )
    except InvalidInput as error:
        db.rollback()
        return review_page(
            request, db, principal, submission_id, errors=dict(error.details or {}), status_code=422
        )
    auth.record(
        request,
        db,
        principal,
        "plan_approved" if decision.approved else "plan_rejected",
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"number": decision.number, "sha256": submission.sha256, "consequence": decision.consequence},
    )
    db.commit()
    return RedirectResponse(
        str(request.url_for("approvals:review", submission_id=submission.id)), status_code=303
    )


@router.get("/submissions/{submission_id}/statement", name="approvals:statement")
def statement(
    request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    submission, engagement = submission_for(request, db, principal, submission_id)
    context = documents.statement_context(db, request, submission, engagement)
    return HTMLResponse(documents.statement_html(context))


@router.get("/verify", name="approvals:verify")
def verify(request: Request, db: SessionDep, number: str = "", sha256: str = "") -> Response:
    """Public: confirms that a statement with this number was issued over a plan with this hash."""
    found = approvals.verify(db, number, sha256) if number and sha256 else None
    context = {"number": number[:64], "sha256": sha256[:64], "found": found, "asked": bool(number or sha256)}
    return render(
        request, "approvals/verify.html", context, status_code=200 if found or not context["asked"] else 404
    )


@router.post("/reviews/closure-days", name="approvals:add-closure-day")
async def add_closure_day(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    """Buyer advisors: a day their organisation is closed stops counting as a Working Day."""
    if not auth.can_act(principal, Action.MANAGE_CLOSURES):
        raise Forbidden("Closure days are set by the buyer's security advisors.")
    form = await request.form()
    closure = calendars.add_closure_day(
        db, buyer_org_id=principal.user.organisation_id, day=_text(form, "day"), reason=_text(form, "reason")
    )
    auth.record(
        request,
        db,
        principal,
        "closure_day_added",
        object_type="closure_day",
        object_id=closure.id,
        details={"day": closure.day.isoformat()},
    )
    db.commit()
    return RedirectResponse(str(request.url_for("approvals:queue")) + "#closures", status_code=303)
