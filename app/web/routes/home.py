"""The home page: what Attest is and where to start."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.domain.access import Action
from app.services.deadlines import review_queue
from app.services.notifications import due_soon
from app.web.auth import OptionalPrincipal, can_act
from app.web.deps import LibraryDep, SessionDep
from app.web.templating import render

router = APIRouter()


@router.get("/", name="home:index", include_in_schema=False)
def index(request: Request, db: SessionDep, library: LibraryDep, principal: OptionalPrincipal) -> Response:
    reviews = None
    if principal is not None and can_act(principal, Action.REVIEW_QUEUE):
        reviews = review_queue(db, principal.user.organisation_id, today=clock.today())
    context: dict[str, Any] = {"catalogues": library.catalogues, "principal": principal, "reviews": reviews}
    if principal is not None:
        context["due_soon"] = due_soon(db, principal.actor, today=clock.today())
    return render(request, "home/index.html", context)
