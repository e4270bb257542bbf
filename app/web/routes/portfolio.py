"""The buyer advisor's portfolio: every supplier's certificates, expiring, expired or missing."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.domain.access import Role
from app.domain.audit import AuditAction
from app.domain.certificates import TIER_LABELS
from app.http import auth
from app.http.deps import SessionDep
from app.http.refusals import refuse_page
from app.services import certificates as service
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])


@router.get("/portfolio", name="portfolio:index")
def index(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    if principal.user.role is not Role.BUYER_ADVISOR:
        refuse_page(AuditAction.PORTFOLIO, "/portfolio")
    today = clock.today()
    view = service.portfolio(db, principal.actor, today=today)
    context = {
        "suppliers": view.suppliers,
        "counts": {str(state): n for state, n in view.counts.items()},
        "tier_labels": TIER_LABELS,
        "today": today,
    }
    return render(request, "portfolio/index.html", context)
