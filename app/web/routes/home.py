"""The home page: what Attest is and where to start."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app.web.auth import OptionalPrincipal
from app.web.deps import LibraryDep
from app.web.templating import render

router = APIRouter()


@router.get("/", name="home:index", include_in_schema=False)
def index(request: Request, library: LibraryDep, principal: OptionalPrincipal) -> Response:
    return render(request, "home/index.html", {"catalogues": library.catalogues, "principal": principal})
