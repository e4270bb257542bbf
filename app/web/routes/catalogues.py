"""Browse the catalogues: index with search across all, one catalogue, one control."""

from __future__ import annotations

from itertools import groupby

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from app.domain.catalogue import Catalogue, Library
from app.domain.errors import NotFound
from app.http.deps import LibraryDep
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
def index(request: Request, library: LibraryDep, q: str = SearchQuery) -> Response:
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
    }
    block = "results" if is_htmx(request) else None
    return vary_on_htmx(render(request, "catalogues/index.html", context, block_name=block))


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
