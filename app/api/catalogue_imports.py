"""Import an OSCAL catalog or profile (JSON) as a new catalogue: `POST /api/catalogues/import`.
The same use case as the form on the catalogue page (app.http.catalogue_imports)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.api.bodies import Out
from app.api.evidence import multipart_body
from app.api.schema import UPLOAD, ApiRoute, ErrorBody
from app.http import auth
from app.http.catalogue_imports import import_upload
from app.http.deps import SessionDep
from app.http.uploads import ParsedForm

router = APIRouter(
    prefix="/api",
    tags=["catalogues"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)


class CatalogueImportForm(BaseModel):
    """The multipart fields of a catalogue import."""

    catalogue_id: str = Field(
        default="",
        description="The new catalogue's id (2 to 63 of a-z, 0-9 and -); default: from the document's title",
    )
    file: bytes = Field(description="An OSCAL 1.1 catalog or profile in JSON, at most 10 MB")


class ImportedCatalogueOut(Out):
    id: str
    title: str
    version: str
    kind: Literal["catalog", "profile"] = Field(description="What was imported")
    control_count: int
    sha256: str = Field(description="SHA-256 of the document as uploaded")
    size_bytes: int
    imported_at: datetime
    imported_by_id: str | None
    oscal: str = Field(description="The new catalogue's own OSCAL export")


RESPONSES: dict[int | str, dict[str, Any]] = {
    **UPLOAD,
    403: {"model": ErrorBody, "description": "Only administrators and buyer advisors import catalogues"},
    422: {
        "model": ErrorBody,
        "description": "Not JSON, not a valid OSCAL catalog or profile (trestle's model), a profile naming "
        "a catalogue or control not in the library, or an id already in use: `details` lists every problem "
        "(`field`: where in the document, `message`); nothing was created.",
    },
}


@router.post(
    "/catalogues/import",
    name="api:catalogues-import",
    status_code=201,
    response_model=ImportedCatalogueOut,
    responses=RESPONSES,
    openapi_extra=multipart_body(CatalogueImportForm),
)
async def import_catalogue(request: Request, db: SessionDep, caller: auth.CurrentCaller) -> JSONResponse:
    """Import an OSCAL catalog, or a profile of catalogues in the library, as a new catalogue
    (audited `catalogue_imported`). It is listed at once by `GET /api/catalogues` on every
    worker and can be chosen for a new engagement."""
    row, catalogue = await import_upload(request, db, caller, ParsedForm())
    oscal = str(request.url_for("api:catalogue-oscal", catalogue_id=catalogue.id).path)
    body = ImportedCatalogueOut(
        id=row.id,
        title=catalogue.title,
        version=catalogue.version,
        kind=row.kind,
        control_count=row.control_count,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        imported_at=row.imported_at,
        imported_by_id=row.imported_by_id,
        oscal=oscal,
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=201,
        headers={"Location": str(request.url_for("api:catalogue", catalogue_id=catalogue.id).path)},
    )
