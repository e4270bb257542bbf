"""The buyer advisor's portfolio: every supplier's certificates, expiring, expired or missing."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.domain.access import Role
from app.domain.certificates import TIER_LABELS
from app.domain.errors import NotFound
from app.services import certificates as service
from app.web import auth
from app.web.deps import SessionDep
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])


@router.get("/portfolio", name="portfolio:index")
def index(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    if principal.user.role is not Role.BUYER_ADVISOR:
        auth.record_denied(request, db, principal, "portfolio", object_type="page", object_id="/portfolio")
        raise NotFound("There is nothing at this address.")
    today = clock.today()
    suppliers = service.portfolio(db, principal.actor, today=today)
    counts = {
        state: sum(1 for s in suppliers for line in s.lines if line.state == state)
        for state in ("expiring", "expired", "missing")
    }
    context = {"suppliers": suppliers, "counts": counts, "tier_labels": TIER_LABELS, "today": today}
    return render(request, "portfolio/index.html", context)
