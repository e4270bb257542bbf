"""Engagement API: the engagements the caller may see (more arrives with assessments)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request

from app.api.bodies import EngagementOut, MeOut
from app.api.schema import ApiRoute
from app.domain.access import Action
from app.domain.errors import NotFound
from app.models import Engagement
from app.services import engagements
from app.web import auth
from app.web.deps import SessionDep

router = APIRouter(
    prefix="/api",
    tags=["engagements"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
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
        "catalogue_ids": catalogue_ids,
    }


@router.get("/engagements", name="api:engagements", response_model=list[EngagementOut])
def list_engagements(db: SessionDep, principal: auth.CurrentPrincipal) -> list[dict[str, Any]]:
    """Engagements the caller may see: their organisation's, as buyer or supplier."""
    return [
        engagement_json(e, engagements.catalogue_ids(db, e.id))
        for e in engagements.visible(db, principal.actor)
    ]


@router.get("/engagements/{engagement_id}", name="api:engagement", response_model=EngagementOut)
def show_engagement(
    request: Request, engagement_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """One engagement; someone else's answers 404 (and the attempt is audited)."""
    engagement = db.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFound("No such engagement.")
    auth.authorise(
        request,
        db,
        principal,
        Action.VIEW_ENGAGEMENT,
        engagements.parties(engagement),
        object_type="engagement",
        object_id=engagement_id,
        engagement_id=engagement_id,
    )
    return engagement_json(engagement, engagements.catalogue_ids(db, engagement.id))


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
