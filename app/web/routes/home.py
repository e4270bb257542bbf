"""The home page: what Attest is (signed out), or the person's own work by role (signed in)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.http.auth import OptionalPrincipal, caller_of
from app.http.deps import LibraryDep, SessionDep, summary_store
from app.services.home import home_view
from app.web.templating import render

router = APIRouter()


@router.get("/", name="home:index", include_in_schema=False)
def index(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: OptionalPrincipal,
    due: str = Query("", pattern="^(all)?$"),
) -> Response:
    caller = caller_of(request, principal) if principal is not None else None
    store = summary_store(request, db)
    home = home_view(db, library, caller, clock.today(), all_due=due == "all", store=store)
    return render(request, "home/index.html", {"home": home})
