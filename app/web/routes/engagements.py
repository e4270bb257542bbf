"""Engagements: the list, creating one, the dashboard with readiness, and scoping answers."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.domain.access import Action, can
from app.domain.errors import AttestError
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import EngagementToAnswer, EngagementToView
from app.models import Engagement
from app.services import engagement_list, engagements, readiness
from app.web.forms import date_value, date_wording
from app.web.htmx import is_htmx, vary_on_htmx
from app.web.templating import render

DATE_PARTS = ("effective_date-day", "effective_date-month", "effective_date-year")
router = APIRouter(
    prefix="/engagements", include_in_schema=False, dependencies=[Depends(auth.require_principal)]
)


@router.get("", name="engagements:index")
def index(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    sort: str = Query("reference", max_length=20),
    order: str = Query("asc", pattern="^(asc|desc)$"),
    page: int = Query(1, ge=1, le=1_000_000),
) -> Response:
    found = engagement_list.page_of(db, principal.actor, sort=sort, descending=order == "desc", page=page)
    base = request.url_for("engagements:index").path

    def page_href(n: int) -> str:
        order = "desc" if found.descending else "asc"
        return f"{base}?{urlencode({'sort': found.sort, 'order': order, 'page': n})}"

    def sort_href(key: str, descending: bool) -> str:
        return f"{base}?{urlencode({'sort': key, 'order': 'desc' if descending else 'asc'})}"

    context = {
        "view": found,
        "engagements": found.rows,
        "names": found.names,
        "page_size": engagement_list.PAGE_SIZE,
        "page_href": page_href,
        "sort_href": sort_href,
        "can_create": can(principal.actor, Action.CREATE_ENGAGEMENT),
    }
    return render(request, "engagements/index.html", context)


def new_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    form: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    offered = engagements.choices(db, principal.actor)
    context = {
        "form": form or {"catalogue_ids": [c.id for c in library.catalogues]},
        "errors": errors or {},
        "buyers": offered.buyers,
        "suppliers": offered.suppliers,
        "catalogues": library.catalogues,
        "profiles": [("schedule-2-4", "Schedule 2.4 (IMS4)"), ("call-off-schedule-7", "Call Off Schedule 7")],
        "jurisdictions": [(j, j.replace("-", " ").title()) for j in engagements.JURISDICTIONS],
        "call_off_forms": [
            ("long", "Long form (paragraphs 1 to 9 with Annex 1)"),
            ("short", "Short form (paragraphs 1 to 5)"),
        ],
    }
    return render(request, "engagements/new.html", context, status_code=status)


@router.get("/new", name="engagements:new")
def new(request: Request, db: SessionDep, library: LibraryDep, principal: auth.CurrentPrincipal) -> Response:
    auth.require(request, db, principal, Action.CREATE_ENGAGEMENT)
    return new_page(request, db, library, principal)


@router.post("/new", name="engagements:create")
async def create(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    auth.require(request, db, principal, Action.CREATE_ENGAGEMENT)
    data = await request.form()
    form = {
        key: str(data.get(key, ""))
        for key in (
            "reference",
            "title",
            "buyer_org_id",
            "supplier_org_id",
            "effective_date",
            "workflow_profile",
            "jurisdiction",
            "call_off_form",
        )
    }
    form["effective_date"] = date_value(data, "effective_date")  # GOV.UK date input or ISO
    chosen = [str(v) for v in data.getlist("catalogue_ids")]
    try:
        engagement = engagements.create(db, library, caller, catalogue_ids=chosen, **form)
    except AttestError as problem:
        db.rollback()
        details = problem.details or {"reference": problem.message}
        errors = {str(k): date_wording(str(k), str(v), data) for k, v in details.items()}
        # The date's three boxes come back as typed (not as the ISO text made of them).
        typed = {k: str(data[k]) for k in DATE_PARTS if k in data}
        kept: dict[str, object] = {**form, **typed, "catalogue_ids": chosen}
        return new_page(request, db, library, principal, kept, errors, 422)
    db.commit()
    return RedirectResponse(
        str(request.url_for("engagements:show", engagement_id=engagement.id)), status_code=303
    )


@router.get("/{engagement_id}", name="engagements:show")
def show(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    board = readiness.dashboard(db, library, engagement, principal.actor, today=clock.today())
    context = {
        "engagement": engagement,
        "names": board.summary.names,
        "readiness": board.view.readiness,
        "may": board.view.may,
        "catalogues": board.catalogues,
        "is_supplier": board.is_supplier,
        "deadlines": board.deadlines,
        "plan_state": board.plan_state,
    }
    block = "readiness" if is_htmx(request) else None
    return vary_on_htmx(render(request, "engagements/show.html", context, block_name=block))


def scoping_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The scoping questions; after a refusal, `typed` holds the answers as sent (yes/no by id)."""
    view = engagements.scoping(db, library, engagement, principal.actor)
    answers = {k: v == "yes" for k, v in typed.items() if v in ("yes", "no")} if typed else view.answers
    context = {
        "engagement": engagement,
        "questions": view.questions,
        "answers": answers,
        "can_answer": view.can_answer,
        "errors": errors or {},
        "saved": request.query_params.get("saved") == "scoping" and not errors,
    }
    return render(request, "engagements/scoping.html", context, status_code=status)


@router.get("/{engagement_id}/scoping", name="engagements:scoping")
def scoping(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    return scoping_page(request, db, library, principal, engagement)


@router.post("/{engagement_id}/scoping", name="engagements:save-scoping")
async def save_scoping(
    request: Request,
    engagement: EngagementToAnswer,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    """Yes/no per question; an answer that is neither re-renders the form as sent (422). After
    the save, the scoping page again with a success banner (issue 15 item 9)."""
    data = await request.form()
    sent = {q.id: str(data[q.id]) for q in library.questions if q.id in data}
    errors = {
        f"{q.id}-yes": f"Answer yes or no: {q.text}"
        for q in library.questions
        if sent.get(q.id, "yes") not in ("yes", "no")
    }
    if errors:
        return scoping_page(
            request, db, library, principal, engagement, typed=sent, errors=errors, status=422
        )
    engagements.set_scoping(db, library, engagement, caller, {k: v == "yes" for k, v in sent.items()})
    db.commit()
    url = request.url_for("engagements:scoping", engagement_id=engagement.id)
    return RedirectResponse(str(url.include_query_params(saved="scoping")), status_code=303)
