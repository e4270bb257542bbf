"""The Downloads page: the files a person asked to be made in the background, with their state
(queued, running with progress, ready with the link, failed with the message and a retry,
expired), the file itself, and the retry. The API has the same (app/api/downloads.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.http import auth
from app.http.deps import SessionDep
from app.http.exports import download_content, retry_download
from app.services import downloads as service
from app.web import htmx
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])
LIST_ID = "downloads"


@router.get("/downloads", name="downloads:index")
def index(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    """Every download of the signed-in person; while any is being made, the list refreshes itself
    (htmx, every few seconds) and a live region announces the changes."""
    rows = service.listing(db, principal.user.id)
    context = {
        "rows": rows,
        "active": any(row.state in service.ACTIVE for row in rows),
        "keep_days": service.KEEP_DAYS,
    }
    block = "list" if htmx.targets(request, LIST_ID) else None
    context["fragment"] = block is not None
    return htmx.vary_on_htmx(render(request, "downloads/index.html", context, block_name=block))


@router.get("/downloads/{download_id}/content", name="downloads:content")
def content(request: Request, download_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    return download_content(request, db, caller, download_id)


@router.post("/downloads/{download_id}/retry", name="downloads:retry")
def retry(request: Request, download_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    retry_download(request, db, caller, download_id)
    return RedirectResponse(str(request.url_for("downloads:index")), status_code=303)
