"""Catalogue API: list, one catalogue, one control with mappings both ways, search, OSCAL."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from app.adapters.oscal import export_catalogue
from app.api.bodies import CatalogueOut, CatalogueSummaryOut, ControlOut, SearchOut
from app.api.schema import ApiRoute, responses_for
from app.domain.catalogue import Catalogue, Control, Library
from app.domain.errors import NotFound
from app.http.deps import LibraryDep

router = APIRouter(prefix="/api", tags=["catalogues"], route_class=ApiRoute)
CACHED = responses_for(304)  # cached_json answers 304 to a matching If-None-Match
_cache: dict[tuple[str, ...], tuple[bytes, str]] = {}


def cached_json(request: Request, key: tuple[str, ...], build: Any) -> Response:
    """Serialise once per catalogue version; answer 304 when the client already has it."""
    entry = _cache.get(key)
    if entry is None:
        body = json.dumps(build(), ensure_ascii=False, separators=(",", ":")).encode()
        entry = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        if len(_cache) > 512:
            _cache.clear()
        _cache[key] = entry
    body, etag = entry
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def catalogue_summary(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "id": catalogue.id,
        "title": catalogue.title,
        "version": catalogue.version,
        "source": catalogue.source,
        "kind": catalogue.kind,
        "control_count": len(catalogue.controls),
    }


def control_json(control: Control, library: Library) -> dict[str, Any]:
    return {
        "id": control.id,
        "catalogue_id": control.catalogue_id,
        "section_id": control.section_id,
        "title": control.title,
        "requirement": control.requirement,
        "guidance": control.guidance,
        "source": control.source,
        "clauses": list(control.clauses),
        "short_form_clauses": list(control.short_form_clauses),
        "evidence": control.evidence,
        "evidence_required": control.evidence_required,
        "criticality": control.criticality.value,
        "applies_if": control.applies_if,
        "recurrence": control.recurrence.value if control.recurrence else None,
        "aliases": list(control.aliases),
        "keywords": list(control.keywords),
        "mappings": [
            {
                "control_id": link.control_id,
                "catalogue_id": link.catalogue_id,
                "relation": link.relation.value,
                "label": link.label,
                "direction": "declared" if link.declared_here else "derived",
            }
            for link in library.links.get(control.id, ())
        ],
    }


def get_catalogue(library: Library, catalogue_id: str) -> Catalogue:
    catalogue = library.catalogue(catalogue_id)
    if catalogue is None:
        raise NotFound(f"No catalogue {catalogue_id!r}.")
    return catalogue


@router.get("/catalogues", name="api:catalogues", response_model=list[CatalogueSummaryOut], responses=CACHED)
def list_catalogues(request: Request, library: LibraryDep) -> Response:
    """Every catalogue: id, title, version, source, kind, control_count."""
    return cached_json(
        request,
        (library.fingerprint, "list"),
        lambda: [catalogue_summary(c) for c in library.catalogues],
    )


@router.get("/controls", name="api:controls-search", response_model=SearchOut)
def search_controls(
    library: LibraryDep,
    q: str = Query(min_length=2, max_length=200, description="Words that must all appear"),
    catalogue_id: str | None = None,
) -> dict[str, Any]:
    """Controls of every catalogue (or one) whose title or text holds every word of `q`."""
    if catalogue_id is not None:
        get_catalogue(library, catalogue_id)
    found = library.search(q, catalogue_id)
    return {"query": q, "count": len(found), "controls": [control_json(c, library) for c in found]}


@router.get("/catalogues/{catalogue_id}", name="api:catalogue", response_model=CatalogueOut, responses=CACHED)
def show_catalogue(
    request: Request,
    catalogue_id: str,
    library: LibraryDep,
    q: str | None = Query(default=None, max_length=200, description="Filter controls"),
) -> Response:
    """The catalogue with its sections and controls (filtered by `q` when given)."""
    catalogue = get_catalogue(library, catalogue_id)
    wanted = {c.id for c in library.search(q, catalogue_id)} if q else None

    def build() -> dict[str, Any]:
        sections = [
            {
                "id": s.id,
                "title": s.title,
                "controls": [
                    control_json(c, library) for c in s.controls if wanted is None or c.id in wanted
                ],
            }
            for s in catalogue.sections
        ]
        return {
            **catalogue_summary(catalogue),
            "description": catalogue.description,
            "source_clauses": list(catalogue.source_clauses),
            "sections": [s for s in sections if s["controls"] or wanted is None],
        }

    return cached_json(request, (library.fingerprint, "catalogue", catalogue_id, q or ""), build)


@router.get(
    "/catalogues/{catalogue_id}/controls/{control_id}",
    name="api:control",
    response_model=ControlOut,
    responses=CACHED,
)
def show_control(request: Request, catalogue_id: str, control_id: str, library: LibraryDep) -> Response:
    """One control with its mappings in both directions."""
    catalogue = get_catalogue(library, catalogue_id)
    control = library.controls.get(control_id)
    if control is None or control.catalogue_id != catalogue.id:
        raise NotFound(f"No control {control_id!r} in catalogue {catalogue_id!r}.")
    return cached_json(
        request,
        (library.fingerprint, "control", control_id),
        lambda: control_json(control, library),
    )


@router.get("/catalogues/{catalogue_id}/oscal", name="api:catalogue-oscal", responses=CACHED)
def catalogue_oscal(request: Request, catalogue_id: str, library: LibraryDep) -> Response:
    """The catalogue as an OSCAL 1.1 catalog (JSON)."""
    catalogue = get_catalogue(library, catalogue_id)
    return cached_json(
        request,
        (library.fingerprint, "oscal", catalogue_id),
        lambda: export_catalogue(catalogue, library),
    )
