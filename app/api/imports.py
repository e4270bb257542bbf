"""Data in through the API: an engagement's answers from a spreadsheet (XLSX or CSV), checked
first with `dry_run=true`, then imported all or nothing. The same use case as the import page."""

from __future__ import annotations

from typing import Any, Literal

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
from app.http.loaders import EngagementToAnswer, EngagementToManagePlan
from app.models import Download
from app.services import plan_imports

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


class PlanImportForm(BaseModel):
    """The multipart fields of a risk register or Required Changes Register import. The column
    choices are `column_<field>`: for risks title, description, control_ids, likelihood, impact,
    treatment, owner, residual_likelihood, residual_impact; for the register title, description,
    source, control_id, agreed_on, implemented_on, status."""

    file: bytes = Field(
        description="An .xlsx workbook (Attest's own export: its risk register or Required Changes "
        "Register sheet, or any sheet with the required columns) or a .csv file; at most 10 MB and 5,000 rows"
    )
    sha256: str = Field(
        default="",
        description="Without `file`: import the draft your last dry run kept, if it is this file",
    )
    column_title: str = Field(default="", description="The heading of the title column")
    column_status: str = Field(default="", description="(register) The heading of the status column")
    column_likelihood: str = Field(default="", description="(risks) The heading of the likelihood column")


class PlanImportRow(BaseModel):
    sheet: str
    row: int
    title: str
    change: str = Field(description="`new`, `changed`, `unchanged` or `error`")
    values: dict[str, Any] = Field(description="The risk's or entry's fields as they will be saved")
    errors: list[str]


class PlanImportOut(BaseModel):
    sha256: str
    changes: int
    errors: int
    mapping_problems: dict[str, str]
    mapping: dict[str, str] = Field(
        default_factory=dict, description="The column choices used: field -> heading"
    )
    remembered: bool = Field(
        default=False, description="True when your organisation's last choices were used"
    )
    rows: list[PlanImportRow]


PLAN_REFUSED: dict[int | str, dict[str, Any]] = {
    **UPLOAD,
    409: {
        "model": ErrorBody,
        "description": "The plan is awaiting the buyer's decision: nothing can be imported into it "
        "until then",
    },
    422: {
        "model": ErrorBody,
        "description": "Not a spreadsheet, a required column missing, or rows with errors: `details` is "
        "the dry run's answer; nothing was imported.",
    },
}


@router.post(
    "/engagements/{engagement_id}/import/{kind}",
    name="api:import-plan",
    response_model=PlanImportOut,
    responses=PLAN_REFUSED,
    openapi_extra=multipart_body(PlanImportForm),
)
async def import_plan(
    request: Request,
    engagement: EngagementToManagePlan,
    kind: Literal["risks", "register"],
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import the plan's risk register (`risks`) or Required Changes Register (`register`):
    supplier leads only. `dry_run=true` writes nothing and says, row by row, what would change
    and every error; without it every change is saved through the plan's own rules (each audited
    as `risk_saved` or `register_entry_saved` with the file's SHA-256, plus one `risks_imported`
    or `register_entries_imported` record) or, when any row has an error, none is. A row changes
    the risk or entry with the same title, or adds one; nothing is deleted."""
    result = await run_import(request, db, library, caller, engagement, dry_run_only=dry_run, kind=kind)
    assert not isinstance(result, Download)  # the plan's registers are imported in the request
    return plan_imports.to_dict(result)
