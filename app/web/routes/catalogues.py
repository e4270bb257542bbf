"""Browse the catalogues: index with search across all, one catalogue, one control."""

from __future__ import annotations

from itertools import groupby

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.domain.access import Action
from app.domain.catalogue import Catalogue, Library
from app.domain.errors import InvalidInput, NotFound, PayloadTooLarge
from app.http import auth
from app.http.catalogue_imports import import_upload
from app.http.deps import LibraryDep, SessionDep
from app.http.uploads import ParsedForm
from app.services import catalogue_imports
from app.web.htmx import is_htmx, vary_on_htmx
from app.web.templating import render

router = APIRouter(prefix="/catalogues", include_in_schema=False)
SearchQuery = Query(default="", max_length=200)


def _catalogue(library: Library, catalogue_id: str) -> Catalogue:
    catalogue = library.catalogue(catalogue_id)
    if catalogue is None:
        raise NotFound(f"There is no catalogue called {catalogue_id!r}.")
    return catalogue


@router.get("", name="catalogues:index")
def index(
    request: Request, library: LibraryDep, principal: auth.CurrentPrincipal, q: str = SearchQuery
) -> Response:
    return _index(request, library, principal, q)


def _index(
    request: Request,
    library: Library,
    principal: auth.Principal,
    q: str = "",
    *,
    problems: list[dict[str, str]] | None = None,
    error: str = "",
    import_id: str = "",
    status_code: int = 200,
) -> Response:
    query = q.strip()
    results = library.search(query) if len(query) >= 2 else []
    groups = [
        (library.catalogue(cat_id), list(controls))
        for cat_id, controls in groupby(results, key=lambda c: c.catalogue_id)
    ]
    context = {
        "catalogues": library.catalogues,
        "q": query,
        "groups": groups,
        "count": len(results),
        "can_import": auth.can_act(principal, Action.IMPORT_CATALOGUE),
        "import_problems": problems or [],
        "import_error": error,
        "import_id": import_id,
        "import_max_mb": catalogue_imports.MAX_MB,
    }
    block = "results" if is_htmx(request) and status_code == 200 else None
    return vary_on_htmx(
        render(request, "catalogues/index.html", context, block_name=block, status_code=status_code)
    )


@router.post("/import", name="catalogues:import")
async def import_catalogue(
    request: Request, db: SessionDep, principal: auth.CurrentPrincipal, caller: auth.CurrentCaller
) -> Response:
    """Import an OSCAL catalog or profile; on any problem the page lists them all (422) and
    nothing is created. A role that may not import is refused (403, audited)."""
    form = ParsedForm()
    try:
        _row, catalogue = await import_upload(request, db, caller, form)
    except (InvalidInput, PayloadTooLarge) as error:
        problems = error.details if isinstance(error.details, list) else []
        files = request.app.state.library
        library = await run_in_threadpool(catalogue_imports.library, db, files)
        status = 413 if isinstance(error, PayloadTooLarge) else 422
        return _index(
            request,
            library,
            principal,
            problems=problems or [{"field": "", "message": error.message}],
            error=error.message,
            import_id=form.first("catalogue_id"),
            status_code=status,
        )
    target = request.url_for("catalogues:show", catalogue_id=catalogue.id)
    return RedirectResponse(str(target), status_code=303)


@router.get("/{catalogue_id}", name="catalogues:show")
def show(request: Request, catalogue_id: str, library: LibraryDep, q: str = SearchQuery) -> Response:
    catalogue = _catalogue(library, catalogue_id)
    query = q.strip()
    wanted = {c.id for c in library.search(query, catalogue.id)} if query else None
    sections = [
        (section, [c for c in section.controls if wanted is None or c.id in wanted])
        for section in catalogue.sections
    ]
    context = {
        "catalogue": catalogue,
        "sections": [(s, cs) for s, cs in sections if cs],
        "q": query,
        "shown": sum(len(cs) for _, cs in sections),
        "links": library.links,
    }
    block = "controls" if is_htmx(request) else None
    return vary_on_htmx(render(request, "catalogues/show.html", context, block_name=block))


@router.get("/{catalogue_id}/controls/{control_id}", name="catalogues:control")
def control(request: Request, catalogue_id: str, control_id: str, library: LibraryDep) -> Response:
    catalogue = _catalogue(library, catalogue_id)
    found = library.controls.get(control_id)
    if found is None or found.catalogue_id != catalogue.id:
        raise NotFound(f"There is no control {control_id!r} in {catalogue.title}.")
    section = next(s for s in catalogue.sections if s.id == found.section_id)
    question = next((q for q in library.questions if q.id == found.applies_if), None)
    links = [
        (link, library.controls[link.control_id], library.catalogue(link.catalogue_id))
        for link in library.links.get(found.id, ())
    ]
    context = {
        "catalogue": catalogue,
        "section": section,
        "control": found,
        "question": question,
        "links": links,
    }
    return render(request, "catalogues/control.html", context)
