"""Agreed variations API: list an engagement's variations in force (every party), record one or
take one back (the buyer advisors of the engagement's buyer). The same service functions, rules,
refusals and audit events as the plan page (app.web.routes.variations)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from app import clock
from app.api.bodies import Out
from app.api.certificates import Cursor, Key, Limit, paged
from app.api.dates import WindowDate
from app.api.schema import ApiRoute, responses_for
from app.domain.variations import VariationKind
from app.http import auth
from app.http.deps import SessionDep
from app.http.loaders import EngagementToDecide, EngagementToView
from app.services import variations as service

router = APIRouter(
    prefix="/api",
    tags=["variations"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)
ALREADY_RECORDED = responses_for(409)  # the same deadline, entry or calendar is varied already


class VariationIn(BaseModel):
    kind: VariationKind = Field(
        description="deadline: an agreed date for one deadline; direction: the buyer's written"
        " direction on a Required Changes Register entry (Schedule 2.4 para 5.5); calendar: closure"
        " days are not Working Days in this engagement"
    )
    deadline_kind: str = Field(
        default="",
        max_length=40,
        description="kind=deadline: the `kind` of the deadline (GET .../deadlines, `may_vary` true)",
    )
    object_id: str = Field(
        default="",
        max_length=32,
        description="the deadline's `object_id` (empty for the engagement's own); kind=direction:"
        " the register entry",
    )
    due_on: WindowDate | None = Field(default=None, description="kind=deadline: the agreed date")
    reference: str = Field(
        max_length=1000, description="the letter, minute or contract change recording the agreement"
    )
    agreed_on: WindowDate = Field(description="when the parties agreed it (not after today)")
    note: str = Field(default="", max_length=20_000)


class VariationOut(Out):
    id: str
    engagement_id: str
    kind: VariationKind
    kind_label: str
    deadline_kind: str
    object_id: str
    due_on: date | None = Field(description="kind=deadline: the agreed date")
    rule_due_on: date | None = Field(description="kind=deadline: the date the contract's rule gives")
    subject: str = Field(description="what it varies")
    clause: str = Field(description="the clause that lets the parties agree it")
    rule: str = Field(description="the contract's rule it varies")
    reference: str
    agreed_on: date
    note: str
    recorded_by_id: str
    recorded_by_name: str
    recorded_at: datetime


class VariationListOut(Out):
    variations: list[VariationOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


def variation_out(listed: service.Listed) -> VariationOut:
    row = listed.row
    return VariationOut(
        id=row.id,
        engagement_id=row.engagement_id,
        kind=row.kind,
        kind_label=service.KIND_NAMES[row.kind],
        deadline_kind=row.deadline_kind,
        object_id=row.object_id,
        due_on=row.due_on,
        rule_due_on=listed.rule_due_on,
        subject=listed.subject,
        clause=listed.clause,
        rule=listed.rule,
        reference=row.reference,
        agreed_on=row.agreed_on,
        note=row.note,
        recorded_by_id=row.recorded_by_id,
        recorded_by_name=row.recorded_by_name,
        recorded_at=row.recorded_at,
    )


def _key(listed: service.Listed) -> Key:
    return (listed.row.recorded_at.isoformat(), listed.row.id)  # oldest first


@router.get("/engagements/{engagement_id}/variations", name="api:variations", response_model=VariationListOut)
def list_variations(
    engagement: EngagementToView,
    db: SessionDep,
    caller: auth.CurrentCaller,
    limit: Limit = 100,
    cursor: Cursor = "",
) -> VariationListOut:
    """The engagement's agreed variations in force, oldest first, each with what it varies."""
    found = service.listing(db, engagement, caller, today=clock.today())
    page, next_cursor = paged(found, _key, like=("", ""), limit=limit, cursor=cursor)
    return VariationListOut(variations=[variation_out(v) for v in page], next_cursor=next_cursor)


@router.post(
    "/engagements/{engagement_id}/variations",
    name="api:record-variation",
    status_code=201,
    response_model=VariationOut,
    responses=ALREADY_RECORDED,
)
def record_variation(
    engagement: EngagementToDecide, body: VariationIn, db: SessionDep, caller: auth.CurrentCaller
) -> JSONResponse:
    """Buyer advisors: record what the parties agreed in writing. A deadline whose clause allows
    no other timescale answers 422 naming the clause; a second variation of the same deadline,
    entry or calendar answers 409. Audited as `variation_recorded`."""
    today = clock.today()
    row = service.record(
        db,
        engagement,
        caller,
        kind=body.kind.value,
        deadline_kind=body.deadline_kind,
        object_id=body.object_id,
        due_on=body.due_on.isoformat() if body.due_on else "",
        reference=body.reference,
        agreed_on=body.agreed_on.isoformat(),
        note=body.note,
        today=today,
    )
    db.commit()
    listed = next(v for v in service.listing(db, engagement, caller, today=today) if v.row.id == row.id)
    return JSONResponse(variation_out(listed).model_dump(mode="json"), status_code=201)


@router.delete(
    "/engagements/{engagement_id}/variations/{variation_id}", name="api:remove-variation", status_code=204
)
def remove_variation(
    variation_id: str, engagement: EngagementToDecide, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    """Buyer advisors: take a variation back (the contract's rule applies again). Audited as
    `variation_removed`; one of another engagement answers 404 (audited)."""
    service.remove(db, engagement, caller, variation_id)
    db.commit()
    return Response(status_code=204)
