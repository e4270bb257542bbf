"""Engagement API: the engagements the caller may see, one engagement, creating one, and who I am."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.api.bodies import EngagementOut, MeOut
from app.api.dates import WindowDate
from app.api.schema import ApiRoute, responses_for
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import EngagementToView
from app.models import Engagement
from app.services import engagement_list, engagements

router = APIRouter(
    prefix="/api",
    tags=["engagements"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)


class EngagementIn(BaseModel):
    reference: str = Field(max_length=64)
    title: str = Field(max_length=300)
    buyer_org_id: str = Field(max_length=32)
    supplier_org_id: str = Field(max_length=32)
    effective_date: WindowDate
    workflow_profile: Literal["schedule-2-4", "call-off-schedule-7"]
    catalogue_ids: list[str] = Field(min_length=1, max_length=20)
    jurisdiction: Literal["england-and-wales", "scotland", "northern-ireland"] = "england-and-wales"
    call_off_form: Literal["short", "long"] = Field(
        default="long",
        description="Call Off Schedule 7 only: the form the contract uses (deadlines cite its paragraphs)",
    )


def engagement_json(engagement: Engagement, catalogue_ids: list[str]) -> dict[str, Any]:
    return {
        "id": engagement.id,
        "reference": engagement.reference,
        "title": engagement.title,
        "buyer_org_id": engagement.buyer_org_id,
        "supplier_org_id": engagement.supplier_org_id,
        "effective_date": engagement.effective_on.isoformat(),
        "workflow_profile": engagement.workflow_profile,
        "jurisdiction": engagement.jurisdiction,
        "call_off_form": str(engagement.call_off_form),
        "catalogue_ids": catalogue_ids,
    }


@router.get(
    "/engagements",
    name="api:engagements",
    response_model=list[EngagementOut],
    responses={
        200: {
            "headers": {
                "X-Next-Cursor": {
                    "description": "Pass as `cursor` for the next page; absent on the last",
                    "schema": {"type": "string"},
                },
                "Link": {"description": 'The next page as `<url>; rel="next"`', "schema": {"type": "string"}},
            }
        }
    },
)
def list_engagements(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    limit: int = Query(engagement_list.PAGE_SIZE * 2, ge=1, le=engagement_list.MAX_LIMIT),
    cursor: str | None = Query(None, max_length=32, description="`X-Next-Cursor` of the previous page"),
) -> JSONResponse:
    """Engagements the caller may see (their organisation's, as buyer or supplier), by reference,
    `limit` at a time; the body is the list, and `X-Next-Cursor` (with a `Link` header) gives the
    cursor of the next page. 422 for a cursor that is not one of the caller's engagements."""
    found = engagement_list.page_of(db, principal.actor, limit=limit, cursor=cursor)
    body = [engagement_json(e, found.catalogues[e.id]) for e in found.rows]
    headers = {}
    if found.next_cursor:
        url = request.url.include_query_params(cursor=found.next_cursor, limit=limit)
        headers = {"X-Next-Cursor": found.next_cursor, "Link": f'<{url}>; rel="next"'}
    return JSONResponse(body, headers=headers)


@router.post(
    "/engagements",
    name="api:create-engagement",
    status_code=201,
    response_model=EngagementOut,
    responses=responses_for(409),
)
def create_engagement(
    request: Request, body: EngagementIn, db: SessionDep, library: LibraryDep, caller: auth.CurrentCaller
) -> JSONResponse:
    """Create an engagement (administrator, or buyer advisor for their own organisation; anyone
    else is refused with 403)."""
    data = body.model_dump()
    data["effective_date"] = body.effective_date.isoformat()
    engagement = engagements.create(db, library, caller, **data)
    db.commit()
    return JSONResponse(engagement_json(engagement, sorted(body.catalogue_ids)), status_code=201)


@router.get("/engagements/{engagement_id}", name="api:engagement", response_model=EngagementOut)
def show_engagement(engagement: EngagementToView, db: SessionDep) -> dict[str, Any]:
    """One engagement; someone else's answers 404 (and the attempt is audited)."""
    found = engagements.summary(db, engagement)
    return engagement_json(found.engagement, found.catalogue_ids)


@router.get("/me", name="api:me", tags=["accounts"], response_model=MeOut)
def me(principal: auth.CurrentPrincipal) -> dict[str, Any]:
    """Who the token or session belongs to."""
    user = principal.user
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "organisation": {
            "id": principal.organisation.id,
            "name": principal.organisation.name,
            "kind": principal.organisation.kind.value,
        },
    }
