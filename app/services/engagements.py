"""Engagements as the caller may see them (the tenant boundary for engagement data)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.domain.access import SUPPLIER_ROLES, Actor, Parties, Role
from app.models import Engagement, EngagementCatalogue


def parties(engagement: Engagement) -> Parties:
    return Parties(engagement.buyer_org_id, engagement.supplier_org_id)


def visible(session: Session, actor: Actor) -> list[Engagement]:
    query = select(Engagement).order_by(col(Engagement.reference))
    if actor.role in SUPPLIER_ROLES:
        query = query.where(Engagement.supplier_org_id == actor.org_id)
    elif actor.role is Role.BUYER_ADVISOR:
        query = query.where(Engagement.buyer_org_id == actor.org_id)
    return list(session.exec(query))


def catalogue_ids(session: Session, engagement_id: str) -> list[str]:
    query = select(EngagementCatalogue.catalogue_id).where(EngagementCatalogue.engagement_id == engagement_id)
    return sorted(session.exec(query))
