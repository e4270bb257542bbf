"""The buyer advisor's portfolio: every engagement at a glance (readiness with its trend, plan
state, next deadline, blockers, certificates), sorted and paginated on the server, then the
certificates of the suppliers on the page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.domain.access import Role
from app.domain.audit import AuditAction
from app.domain.certificates import TIER_LABELS
from app.http import auth
from app.http.deps import LibraryDep, SessionDep, summary_store
from app.http.refusals import refuse_page
from app.services.certificates import PAGE_SIZE, glance
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])


@router.get("/portfolio", name="portfolio:index")
def index(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    sort: str = Query("supplier", max_length=20),
    order: str = Query("asc", pattern="^(asc|desc)$"),
    page: int = Query(1, ge=1, le=1_000_000),
) -> Response:
    if principal.user.role is not Role.BUYER_ADVISOR:
        refuse_page(AuditAction.PORTFOLIO, "/portfolio")
    today = clock.today()
    descending = order == "desc"
    store = summary_store(request, db)
    view = glance(
        db, library, principal.actor, today=today, store=store, sort=sort, descending=descending, page=page
    )
    base = request.url_for("portfolio:index").path

    def page_href(n: int) -> str:
        order = "desc" if view.descending else "asc"
        return f"{base}?{urlencode({'sort': view.sort, 'order': order, 'page': n})}"

    def sort_href(key: str, descending: bool) -> str:
        return f"{base}?{urlencode({'sort': key, 'order': 'desc' if descending else 'asc'})}"

    context = {
        "view": view,
        "suppliers": view.suppliers,
        "counts": {str(state): n for state, n in view.counts.items()},
        "tier_labels": TIER_LABELS,
        "today": today,
        "page_href": page_href,
        "sort_href": sort_href,
        "page_size": PAGE_SIZE,
    }
    return render(request, "portfolio/index.html", context)
