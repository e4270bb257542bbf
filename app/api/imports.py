"""Data in through the API: an engagement's answers from a spreadsheet (XLSX or CSV), checked
first with `dry_run=true`, then imported all or nothing. The same use case as the import page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.api.downloads import DownloadOut, accepted
from app.api.evidence import multipart_body
from app.api.schema import UPLOAD, ApiRoute, ErrorBody
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.imports import run_import
from app.http.loaders import EngagementToAnswer
from app.models import Download

router = APIRouter(
    prefix="/api",
    tags=["imports"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)


class ImportForm(BaseModel):
    """The multipart fields of an import."""

    file: bytes = Field(
        description="An .xlsx workbook (Attest's own export, or any sheet with a control and a "
        "status column) or a .csv file; at most 10 MB and 5,000 rows"
    )
    sha256: str = Field(
        default="",
        description="Without `file`: import the draft your last dry run kept, if it is this file",
    )
    column_control_id: str = Field(default="", description="The heading of the control id column")
    column_status: str = Field(default="", description="The heading of the status column")
    column_statement: str = Field(default="", description="The heading of the statement column")
    column_justification: str = Field(default="", description="The heading of the justification column")
    column_owner: str = Field(default="", description="The heading of the owner column (e-mail or name)")
    column_planned_change: str = Field(default="", description="The heading of the planned change column")
    column_target_date: str = Field(default="", description="The heading of the target date column")


class ImportRow(BaseModel):
    sheet: str
    row: int
    control_id: str
    change: str = Field(description="`new`, `changed`, `unchanged`, `skipped` (no status) or `error`")
    answer: dict[str, Any]
    errors: list[str]


class ImportOut(BaseModel):
    sha256: str
    changes: int
    errors: int
    mapping_problems: dict[str, str]
    mapping: dict[str, str] = Field(
        default_factory=dict, description="The column choices used: field -> heading (yours, or remembered)"
    )
    remembered: bool = Field(
        default=False,
        description="True when no choices were sent and your organisation's choices for a sheet with "
        "these headings were used (send `column_*` fields to choose again)",
    )
    rows: list[ImportRow]


REFUSED: dict[int | str, dict[str, Any]] = {
    **UPLOAD,
    202: {
        "model": DownloadOut,
        "description": "More than 500 rows (blank rows aside): the import runs in the background worker; "
        "Location is its download (GET it for the state and, when done, the result)",
    },
    422: {
        "model": ErrorBody,
        "description": "Not a spreadsheet, no control or status column, or rows with errors: "
        "`details` is the dry run's answer (every row and its errors); nothing was imported.",
    },
}


@router.post(
    "/engagements/{engagement_id}/import",
    name="api:import-answers",
    response_model=ImportOut,
    responses=REFUSED,
    openapi_extra=multipart_body(ImportForm),
)
async def import_answers(
    request: Request,
    engagement: EngagementToAnswer,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
    dry_run: bool = False,
) -> dict[str, Any] | JSONResponse:
    """Import answers. `dry_run=true` writes nothing and says, row by row, what would change and
    every error; without it every change is saved (each in the response history, plus one
    `answers_imported` audit record) or, when any row has an error, none is. An import of more
    than 500 rows (blank rows aside) runs in the worker: 202 Accepted with
    `Location: /api/downloads/{id}`, where its state and, when done, its result (a message, and
    a CSV report of every row) are."""
    result = await run_import(request, db, library, caller, engagement, dry_run_only=dry_run)
    if isinstance(result, Download):
        return accepted(request, result)
    return result.to_dict()
