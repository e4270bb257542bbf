"""Assessment API: scoping, responses (and applying one to mapped controls), readiness.

Each handler gets the engagement from a load-or-refuse dependency (app.http.loaders), calls
the same service function as the page, commits once and serialises. A handler with a second path
parameter still names `engagement_id` first, so the schema lists them in the order of the path."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from app import clock
from app.api.bodies import Out, ResponseOut
from app.api.dates import WindowDate
from app.api.schema import ApiRoute
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import EngagementToAnswer, EngagementToView
from app.services import engagements, readiness, responses

router = APIRouter(
    prefix="/api",
    tags=["assessments"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)


class ScopingIn(BaseModel):
    answers: dict[str, bool]


class ScopingOut(Out):
    answers: dict[str, bool] = Field(description="Every answer the engagement has, by question id")


class ResponseIn(BaseModel):
    status: Literal["met", "partially_met", "not_met", "not_applicable"]
    statement: str = Field(default="", max_length=10_000)
    justification: str = Field(default="", max_length=10_000)
    owner_id: str | None = Field(default=None, max_length=32)
    planned_change: str = Field(default="", max_length=10_000)
    target_date: WindowDate | None = None
    expected_version: int | None = Field(default=None, ge=0)


class ApplyMappedIn(BaseModel):
    targets: list[str] = Field(min_length=1, max_length=50, description="Mapped control ids")


class AppliedOut(Out):
    control_id: str
    targets: list[str] = Field(description="The controls the answer and its evidence links went to")


class BulkIn(BaseModel):
    control_ids: list[str] = Field(min_length=1, max_length=500, description="The controls to change")
    status: Literal["met", "partially_met", "not_met", "not_applicable"] | None = Field(
        default=None, description="Set this status (omit: each keeps its own)"
    )
    justification: str = Field(default="", max_length=10_000, description="Required with not_applicable")
    owner_id: str | None = Field(default=None, max_length=32, description="Set this owner (omit: no change)")
    target_date: WindowDate | None = Field(
        default=None, description="Set this target date; only for not met or partially met answers"
    )


class BulkOut(Out):
    responses: list[ResponseOut] = Field(description="Every chosen control's answer after the change")


class ScoreOut(Out):
    id: str
    title: str
    score: float
    earned: float
    possible: int
    counts: dict[str, int]


class CatalogueScoreOut(ScoreOut):
    sections: list[ScoreOut]


class BlockerOut(Out):
    control_id: str = Field(description="The gate control it is, or that stands for it (empty: none)")
    catalogue_id: str
    title: str
    reason: str
    clause: str = Field(description="The one clause that creates it")
    kind: Literal["control", "certificate", "isas", "register_entry"]
    message: str = Field(description="What the readiness `reasons` say: one list")


class ExpiringOut(Out):
    evidence_id: str
    title: str
    expires_on: date
    days_left: int
    control_ids: list[str]


class ControlScoreOut(Out):
    control_id: str
    catalogue_id: str
    section_id: str
    title: str
    gate: bool
    weight: int
    credit: float
    earned: float
    status: str = Field(description="A response status, `unanswered` or `out_of_scope`")
    reason: str


class ReadinessOut(Out):
    score: float
    earned: float
    possible: int
    counts: dict[str, int]
    blockers: list[BlockerOut]
    expiring: list[ExpiringOut]
    expired: list[ExpiringOut]
    catalogues: list[CatalogueScoreOut]
    controls: list[ControlScoreOut]
    may_process_buyer_data: bool
    reasons: list[str] = Field(description="Why buyer data may not be processed (empty when it may)")


@router.put("/engagements/{engagement_id}/scoping", name="api:scoping", response_model=ScopingOut)
def put_scoping(
    engagement: EngagementToAnswer,
    body: ScopingIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Answer scoping questions (supplier); unanswered questions count as yes."""
    answers = engagements.set_scoping(db, library, engagement, caller, body.answers)
    db.commit()
    return {"answers": answers}


@router.put(
    "/engagements/{engagement_id}/responses/{control_id}", name="api:response", response_model=ResponseOut
)
def put_response(
    engagement_id: str,
    control_id: str,
    engagement: EngagementToAnswer,
    body: ResponseIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Set the supplier's response to one control; `expected_version` guards against lost updates."""
    row = responses.save_response(
        db,
        library,
        engagement,
        caller,
        control_id,
        responses.ResponseInput(
            status=body.status,
            statement=body.statement,
            justification=body.justification,
            owner_id=body.owner_id,
            planned_change=body.planned_change,
            target_date=body.target_date.isoformat() if body.target_date else None,
            expected_version=body.expected_version,
        ),
    )
    db.commit()
    return {"control_id": control_id, "version": row.version, **responses.snapshot(row)}


@router.post("/engagements/{engagement_id}/responses/bulk", name="api:bulk-responses", response_model=BulkOut)
def bulk_responses(
    engagement: EngagementToAnswer,
    body: BulkIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Set status, owner or target date on several controls at once. Each goes through the same
    rule as a single save, with its history line and `response_saved` event; all or nothing (422
    naming each refused control in `details`, nothing saved)."""
    rows = responses.bulk_update(
        db,
        library,
        engagement,
        caller,
        body.control_ids,
        responses.BulkChange(
            status=body.status,
            justification=body.justification,
            owner_id=body.owner_id,
            target_date=body.target_date.isoformat() if body.target_date else None,
        ),
    )
    db.commit()
    return {
        "responses": [
            {"control_id": row.control_id, "version": row.version, **responses.snapshot(row)} for row in rows
        ]
    }


@router.post(
    "/engagements/{engagement_id}/responses/{control_id}/apply-mapped",
    name="api:apply-mapped",
    response_model=AppliedOut,
)
def apply_mapped(
    engagement_id: str,
    control_id: str,
    engagement: EngagementToAnswer,
    body: ApplyMappedIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Copy this control's answer and evidence links to mapped controls: only along `equivalent`,
    or from a covering control to the one it covers (422 for any other target)."""
    applied = responses.apply_to_mapped(db, library, engagement, caller, control_id, body.targets)
    db.commit()
    return {"control_id": control_id, "targets": applied}


@router.get("/engagements/{engagement_id}/readiness", name="api:readiness", response_model=ReadinessOut)
def get_readiness(engagement: EngagementToView, db: SessionDep, library: LibraryDep) -> dict[str, object]:
    """Readiness with counts, blockers, expiring evidence and the breakdown to every control."""
    return readiness.readiness_of(db, library, engagement, today=clock.today()).to_dict()
