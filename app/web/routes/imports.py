"""The import page: choose a spreadsheet, see what it would change (a dry run: every row and
every error, nothing written), choose columns if their headings are not recognised, then import.
The API does the same (app/api/imports.py); both call app.http.imports."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.domain import imports as rules
from app.domain.errors import Conflict, InvalidInput, PayloadTooLarge, UnsupportedType
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.errors import STATUS_BY_ERROR
from app.http.imports import MAX_IMPORT_MB, run_import
from app.http.loaders import EngagementToAnswer, EngagementToManagePlan
from app.models import Download, Engagement
from app.services import plan_imports
from app.services.caller import Caller
from app.services.imports import MAX_ROWS, Plan, PlanRefused
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])
SHOWN_ON_THE_PAGE = (InvalidInput, UnsupportedType, PayloadTooLarge)


def page(
    request: Request,
    engagement: Engagement,
    *,
    plan: Plan | None = None,
    error: str = "",
    imported: int | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "engagement": engagement,
        "plan": plan,
        "error": error,
        "imported": imported,
        "fields": rules.FIELD_LABELS,
        "max_mb": MAX_IMPORT_MB,
        "max_rows": MAX_ROWS,
    }
    return render(request, "imports/answers.html", context, status_code=status_code)


@router.get("/engagements/{engagement_id}/import", name="imports:form")
def form(request: Request, engagement: EngagementToAnswer) -> Response:
    return page(request, engagement)


async def _attempt(
    request: Request,
    engagement: Engagement,
    db: SessionDep,
    library: LibraryDep,
    caller: Caller,
    *,
    dry_run_only: bool,
) -> Response:
    try:
        plan = await run_import(request, db, library, caller, engagement, dry_run_only=dry_run_only)
    except SHOWN_ON_THE_PAGE as error:
        status = next(code for cls, code in STATUS_BY_ERROR.items() if isinstance(error, cls))
        shown = error.plan if isinstance(error, PlanRefused) else None
        return page(request, engagement, plan=shown, error=error.message, status_code=status)
    if isinstance(plan, Download):  # a big import: its result shows on the Downloads list
        return RedirectResponse(str(request.url_for("downloads:index")), status_code=303)
    if dry_run_only:
        return page(request, engagement, plan=plan)
    return page(request, engagement, imported=len(plan.changes))


@router.post("/engagements/{engagement_id}/import/check", name="imports:check")
async def check(
    request: Request,
    engagement: EngagementToAnswer,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """The dry run: what the file would change, written nowhere but the person's import draft."""
    return await _attempt(request, engagement, db, library, caller, dry_run_only=True)


@router.post("/engagements/{engagement_id}/import", name="imports:apply")
async def apply(
    request: Request,
    engagement: EngagementToAnswer,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """Import the checked draft: all its changes, or none when a row has an error. More than
    BACKGROUND_ROWS answers are imported by the worker: the page goes to the Downloads list."""
    return await _attempt(request, engagement, db, library, caller, dry_run_only=False)


# The plan's registers: risks and Required Changes Register entries (supplier leads, who keep the
# plan), the same three steps on their own page.
PlanKind = Literal["risks", "register"]
PLAN_SHOWN = (*SHOWN_ON_THE_PAGE, Conflict)


def plan_page(
    request: Request,
    engagement: Engagement,
    kind: str,
    *,
    plan: Plan | None = None,
    error: str = "",
    imported: int | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "engagement": engagement,
        "kind": kind,
        "what": plan_imports.WHAT[kind],
        "plan": plan,
        "error": error,
        "imported": imported,
        "fields": plan_imports.layout_of(kind).labels,
        "required": plan_imports.layout_of(kind).required,
        "max_mb": MAX_IMPORT_MB,
        "max_rows": MAX_ROWS,
    }
    return render(request, "imports/plan.html", context, status_code=status_code)


@router.get("/engagements/{engagement_id}/plan/import/{kind}", name="imports:plan-form")
def plan_form(request: Request, engagement: EngagementToManagePlan, kind: PlanKind) -> Response:
    return plan_page(request, engagement, kind)


async def _plan_attempt(
    request: Request,
    engagement: Engagement,
    kind: str,
    db: SessionDep,
    library: LibraryDep,
    caller: Caller,
    *,
    dry_run_only: bool,
) -> Response:
    try:
        plan = await run_import(
            request, db, library, caller, engagement, dry_run_only=dry_run_only, kind=kind
        )
    except PLAN_SHOWN as error:
        status = next(code for cls, code in STATUS_BY_ERROR.items() if isinstance(error, cls))
        shown = error.plan if isinstance(error, PlanRefused) else None
        return plan_page(request, engagement, kind, plan=shown, error=error.message, status_code=status)
    assert isinstance(plan, Plan)  # the plan's registers are imported in the request
    if dry_run_only:
        return plan_page(request, engagement, kind, plan=plan)
    return plan_page(request, engagement, kind, imported=len(plan.changes))


@router.post("/engagements/{engagement_id}/plan/import/{kind}/check", name="imports:plan-check")
async def plan_check(
    request: Request,
    engagement: EngagementToManagePlan,
    kind: PlanKind,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """The dry run of a risk register or Required Changes Register sheet: nothing is written."""
    return await _plan_attempt(request, engagement, kind, db, library, caller, dry_run_only=True)


@router.post("/engagements/{engagement_id}/plan/import/{kind}", name="imports:plan-apply")
async def plan_apply(
    request: Request,
    engagement: EngagementToManagePlan,
    kind: PlanKind,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """Import the checked draft into the plan: all its changes, or none."""
    return await _plan_attempt(request, engagement, kind, db, library, caller, dry_run_only=False)
