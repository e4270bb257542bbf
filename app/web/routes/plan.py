"""The plan page (supplier lead and everyone in the engagement) and its forms: risks, the Required
Changes Register, the Incident Management Process, security roles, submission, change notices,
and the advisors' dispute and termination moves.

Every form goes through `_handle`: parse, call the use case's service (which applies the rule and
audits), commit once and redirect back to the form's section with a success banner; on
InvalidInput nothing is kept, and the page re-renders (422) with the GOV.UK error pattern and
everything that was typed, so a person fixes one field instead of typing the form again. An htmx
request gets the form's section alone (its block), with its own error summary."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.domain.errors import InvalidInput
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
from app.services.plan_view import plan_view
from app.web import forms, htmx
from app.web.templating import render

router = APIRouter(include_in_schema=False)
SCALE = [(str(n), str(n)) for n in range(1, 6)]
MIN_ROLE_ROWS = 5
MAX_ROLE_ROWS = 50  # far beyond any plan's security roles; bounds what a crafted form can ask for
ROLE_FIELD = re.compile(r"role_(?:kind|name|email|phone|board)_(\d{1,2})")


@dataclass(frozen=True, slots=True)
class PlanForm:
    """One form of the plan page: the section it lives in, the prefix of its element ids (two
    forms both have a `title`), the field a refusal without details points at, and the banner
    shown after it saved."""

    name: str
    section: str
    saved: str
    prefix: str = ""
    first_field: str = ""
    form_section: str = ""  # where the form is, when not where its banner shows (submit)

    @property
    def home(self) -> str:
        return self.form_section or self.section


RISK = PlanForm("risk", "risks", "The risk was saved.", "risk-", "title")
RISK_REMOVED = PlanForm("risk-removed", "risks", "The risk was removed.")
ENTRY = PlanForm("entry", "register", "The Required Changes Register was updated.", "entry-", "title")
FROM_GAPS = PlanForm("gaps", "register", "Entries were added for the gaps with planned changes.")
INCIDENT = PlanForm("incident", "incident", "The Incident Management Process was saved.", "", "document")
ROLES = PlanForm("roles", "roles", "The security roles were saved.", "", "people")
SUBMIT = PlanForm("submit", "submissions", "The plan was submitted to the buyer.", "", "submit", "submit")
NOTICE = PlanForm("notice", "changes", "The change notice was filed.", "notice-", "event")
ISMS = PlanForm("isms", "deadline-section", "The ISMS submission was recorded.", "", "isms_submitted_on")
MOVE = PlanForm("move", "status", "The plan's state was recorded.")
FORMS = {
    f.name: f for f in (RISK, RISK_REMOVED, ENTRY, FROM_GAPS, INCIDENT, ROLES, SUBMIT, NOTICE, ISMS, MOVE)
}


def typed(form: Mapping[str, Any]) -> dict[str, str]:
    """What was typed into a form, to put back into it (never the CSRF token)."""
    return {str(k): str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def role_rows(values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The roles form's rows as typed: every row index the browser sent, rows added included."""
    seen = [int(m.group(1)) for k in values if (m := ROLE_FIELD.fullmatch(k))]
    count = min(max(seen, default=-1) + 1, MAX_ROLE_ROWS)
    return [
        {
            "kind": values.get(f"role_kind_{i}", ""),
            "name": values.get(f"role_name_{i}", ""),
            "email": values.get(f"role_email_{i}", ""),
            "phone": values.get(f"role_phone_{i}", ""),
            "board_level": values.get(f"role_board_{i}") == "yes",
        }
        for i in range(count)
    ]


def stored_role_rows(roles: list[Any]) -> list[dict[str, Any]]:
    return [
        {"kind": r.kind, "name": r.name, "email": r.email, "phone": r.phone, "board_level": r.board_level}
        for r in roles
    ]


def padded(rows: list[dict[str, Any]], *, extra: int = 0) -> list[dict[str, Any]]:
    """Rows plus blank ones: at least MIN_ROLE_ROWS, and `extra` more ('Add another person')."""
    total = min(max(len(rows) + extra, MIN_ROLE_ROWS), MAX_ROLE_ROWS)
    blank = {"kind": "", "name": "", "email": "", "phone": "", "board_level": False}
    return rows + [dict(blank) for _ in range(total - len(rows))]


ENTRY_ROW_IDS = {"agreed_on": "agreed-", "implemented_on": "impl-", "status": "status-"}


def element_ids(kind: PlanForm, error: InvalidInput, values: Mapping[str, str]) -> dict[str, str]:
    """The service's problems keyed by the page's element ids (what the summary links to). A
    register row's own small form (`entry_id`) has its fields' ids in the row."""
    details = {str(k): str(v) for k, v in dict(error.details or {}).items() if k != "missing"}
    row = values.get("entry_id", "") if kind is ENTRY else ""
    if row:
        keys = details or {"status": error.message}
        return {
            ENTRY_ROW_IDS.get(k, "status-") + row: forms.date_wording(k, m, values) for k, m in keys.items()
        }
    if not details:
        return {kind.prefix + kind.first_field: error.message}
    ids: dict[str, str] = {}
    for key, message in details.items():
        parts = key.split(".")
        if parts[0] == "people" and len(parts) == 3:
            key = f"role_{parts[2]}_{parts[1]}"
        elif parts[0] == "contacts":
            key = f"contact_email_{parts[1]}" if len(parts) > 1 else "contact_name_0"
        elif kind is ISMS:
            key = "isms_submitted_on"
        ids[kind.prefix + key] = forms.date_wording(key, message, values)
    return ids


def plan_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    *,
    errors: dict[str, str] | None = None,
    missing: list[dict[str, str]] | None = None,
    failed: PlanForm | None = None,
    values: dict[str, str] | None = None,
    extra_rows: int = 0,
    status_code: int = 200,
) -> Response:
    """The plan page; after a refusal, `failed` names the form and `values` what was typed."""
    view = plan_view(db, library, engagement, principal.actor, today=clock.today())
    values = values or {}
    rows = role_rows(values) if failed is ROLES else stored_role_rows(view.roles)
    saved = FORMS.get(request.query_params.get("saved", "")) if failed is None else None
    context = {
        **{f.name: getattr(view, f.name) for f in fields(view)},
        "moves": [m.value for m in view.moves],
        "role_kinds": plan.ROLE_KINDS,
        "role_rows": padded(rows, extra=extra_rows),
        "events": changes.EVENTS,
        "scale": SCALE,
        "errors": errors or {},
        "missing": missing,
        "failed": failed.name if failed else "",
        "values": values,
        "saved": saved,
        "fragment": False,
    }
    shown = failed or saved
    if shown is None or not htmx.is_htmx(request):
        return render(request, "plan/plan.html", context, status_code=status_code)
    context["fragment"] = True
    section = shown.home if failed else shown.section
    block = section.replace("-", "_")
    response = render(request, "plan/plan.html", context, status_code=status_code, block_name=block)
    return htmx.retarget(response, f"#{section}", swap="outerHTML")


def _back(request: Request, db: SessionDep, engagement: Engagement, kind: PlanForm) -> RedirectResponse:
    """The change is done: commit it (with its audit event) and go back to its part of the page,
    which shows the success banner (Post/Redirect/Get). The address names the banner itself, so
    the browser scrolls to it and focuses it (it has tabindex=-1), with or without JavaScript."""
    db.commit()
    url = request.url_for("approvals:plan", engagement_id=engagement.id).include_query_params(saved=kind.name)
    return RedirectResponse(f"{url}#{kind.section}-saved", status_code=303)


async def _handle(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    kind: PlanForm,
    change: Callable[[FormData], object],
) -> Response:
    """The shape every plan form shares: `change` parses the form and calls the service; a
    refusal rolls everything back and re-renders the form as typed (422), else commit and
    redirect with the banner."""
    form = await request.form()
    try:
        change(form)
    except InvalidInput as error:
        db.rollback()
        values = typed(form)
        missing = dict(error.details or {}).get("missing") if kind is SUBMIT else None
        return plan_page(
            request,
            db,
            library,
            principal,
            engagement,
            errors=element_ids(kind, error, values),
            missing=missing,
            failed=kind,
            values=values,
            status_code=422,
        )
    return _back(request, db, engagement, kind)


@router.get("/engagements/{engagement_id}/plan", name="approvals:plan")
def show_plan(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    return plan_page(request, db, library, principal, engagement)


@router.post("/engagements/{engagement_id}/plan/risks", name="approvals:save-risk")
async def save_risk(
    request: Request,
    engagement: EngagementToManagePlan,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    def change(form: FormData) -> object:
        problems: dict[str, str] = {}
        names = ("likelihood", "impact", "residual_likelihood", "residual_impact")
        levels = {n: forms.level(form, n, problems) for n in names}
        if problems:
            raise InvalidInput(next(iter(problems.values())), details=problems)
        data = plan.RiskInput(
            title=forms.text(form, "title"),
            description=forms.text(form, "description"),
            control_ids=forms.text(form, "control_ids").replace(",", " ").split(),
            treatment=forms.text(form, "treatment"),
            owner=forms.text(form, "owner"),
            expected_version=forms.expected_version(form),
            **levels,
        )
        risk_id = forms.text(form, "risk_id") or None
        return plan.save_risk(db, library, engagement, caller, data, risk_id=risk_id)

    return await _handle(request, db, library, principal, engagement, RISK, change)


@router.post("/engagements/{engagement_id}/plan/risks/{risk_id}/delete", name="approvals:delete-risk")
async def delete_risk(
    request: Request,
    engagement: EngagementToManagePlan,
    risk_id: str,
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> Response:
    form = await request.form()
    plan.delete_risk(db, engagement, caller, risk_id, expected_version=forms.expected_version(form))
    return _back(request, db, engagement, RISK_REMOVED)


@router.post("/engagements/{engagement_id}/plan/register", name="approvals:save-entry")
async def save_entry(
    request: Request,
    engagement: EngagementToManagePlan,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    def change(form: FormData) -> object:
        data = plan.EntryInput(
            title=forms.text(form, "title"),
            description=forms.text(form, "description"),
            control_id=forms.text(form, "control_id") or None,
            agreed_on=forms.date_value(form, "agreed_on") or None,
            implemented_on=forms.date_value(form, "implemented_on") or None,
            status=forms.text(form, "status") or "planned",
            expected_version=forms.expected_version(form),
        )
        entry_id = forms.text(form, "entry_id") or None
        return plan.save_entry(db, engagement, caller, data, entry_id=entry_id)

    return await _handle(request, db, library, principal, engagement, ENTRY, change)


@router.post("/engagements/{engagement_id}/plan/register/from-gaps", name="approvals:entries-from-gaps")
async def entries_from_gaps(
    request: Request,
    engagement: EngagementToManagePlan,
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> Response:
    plan.entries_from_gaps(db, engagement, caller)
    return _back(request, db, engagement, FROM_GAPS)


@router.post("/engagements/{engagement_id}/plan/incident", name="approvals:save-incident")
async def save_incident(
    request: Request,
    engagement: EngagementToManagePlan,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    def change(form: FormData) -> object:
        keys = ("name", "role", "email", "phone")
        contacts = [{k: forms.text(form, f"contact_{k}_{i}") for k in keys} for i in range(4)]
        return plan.save_incident_process(
            db,
            engagement,
            caller,
            document=forms.text(form, "document"),
            contacts=contacts,
            report_loss_hours=forms.hours(form, "report_loss_hours"),
            trace_loss_hours=forms.hours(form, "trace_loss_hours"),
            expected_version=forms.expected_version(form),
        )

    return await _handle(request, db, library, principal, engagement, INCIDENT, change)


@router.post("/engagements/{engagement_id}/plan/roles", name="approvals:save-roles")
async def save_roles(
    request: Request,
    engagement: EngagementToManagePlan,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    form = await request.form()
    if forms.text(form, "add_row") == "yes":  # "Add another person" without JavaScript: nothing saved
        values = typed(form)
        return plan_page(
            request, db, library, principal, engagement, failed=ROLES, values=values, extra_rows=1
        )

    def change(form: FormData) -> object:
        people = role_rows(typed(form))
        return plan.save_security_roles(
            db, engagement, caller, people, expected_version=forms.expected_version(form)
        )

    return await _handle(request, db, library, principal, engagement, ROLES, change)


@router.post("/engagements/{engagement_id}/plan/submit", name="approvals:submit")
async def submit(
    request: Request,
    engagement: EngagementToSubmit,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    def change(form: FormData) -> object:
        return approvals.submit(
            db,
            library,
            engagement,
            caller,
            officer_name=forms.text(form, "officer_name"),
            officer_role=forms.text(form, "officer_role"),
            confirmed=forms.ticked(form, "confirmed"),
            today=clock.today(),
        )

    return await _handle(request, db, library, principal, engagement, SUBMIT, change)


@router.post("/engagements/{engagement_id}/plan/change-notices", name="approvals:file-notice")
async def file_notice(
    request: Request,
    engagement: EngagementToNotify,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    def change(form: FormData) -> object:
        return changes.file_notice(
            db,
            engagement,
            caller,
            event=forms.text(form, "event"),
            description=forms.text(form, "description"),
            aware_on=forms.date_value(form, "aware_on"),
            today=clock.today(),
        )

    return await _handle(request, db, library, principal, engagement, NOTICE, change)


@router.post("/engagements/{engagement_id}/plan/isms", name="approvals:record-isms")
async def record_isms(
    request: Request,
    engagement: EngagementToSubmit,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    def change(form: FormData) -> object:
        submitted_on = forms.date_value(form, "isms_submitted_on")
        return deadline_service.record_isms_submission(
            db, caller, engagement, submitted_on=submitted_on, today=clock.today()
        )

    return await _handle(request, db, library, principal, engagement, ISMS, change)


@router.post("/engagements/{engagement_id}/plan/move", name="approvals:move")
async def record_move(
    request: Request,
    engagement: EngagementToDecide,
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> Response:
    """Buyer advisors: resolve a dispute or record termination."""
    form = await request.form()
    approvals.advisor_move(db, engagement, caller, forms.text(form, "move"))
    return _back(request, db, engagement, MOVE)
