"""Reading the audit log: who may see which events, filters, and paging."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.domain.access import Actor, Role
from app.models import AuditEvent, Engagement

PAGE_SIZE = 100
# Spreadsheets run a cell as a formula when its first character, after any leading
# whitespace, is one of these (OWASP "CSV injection"; the full-width forms too).
FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
# A cell that starts with one of these is also neutralised, whatever follows.
CONTROL_STARTS = frozenset("\t\r\n")


def csv_cell(text: str) -> str:
    """The text as a CSV cell no spreadsheet will run: formulas get a leading apostrophe."""
    if text[:1] in CONTROL_STARTS or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str = ""
    outcome: str = ""
    actor_user_id: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None


def _conditions(actor: Actor, filters: AuditFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if actor.role is not Role.ADMINISTRATOR:
        # Advisors see their own organisation's events and those about their engagements.
        own_engagements = select(Engagement.id).where(Engagement.buyer_org_id == actor.org_id)
        conditions.append(
            or_(
                col(AuditEvent.actor_org_id) == actor.org_id,
                col(AuditEvent.engagement_id).in_(own_engagements),
            )
        )
    if filters.action:
        conditions.append(col(AuditEvent.action) == filters.action)
    if filters.outcome:
        conditions.append(col(AuditEvent.outcome) == filters.outcome)
    if filters.actor_user_id:
        conditions.append(col(AuditEvent.actor_user_id) == filters.actor_user_id)
    if filters.object_id:
        conditions.append(col(AuditEvent.object_id) == filters.object_id)
    if filters.since:
        conditions.append(col(AuditEvent.at) >= filters.since)
    if filters.until:
        conditions.append(col(AuditEvent.at) < filters.until)
    if filters.before_seq:
        conditions.append(col(AuditEvent.seq) < filters.before_seq)
    return conditions


def page(session: Session, actor: Actor, filters: AuditFilter) -> list[AuditEvent]:
    """Newest first, PAGE_SIZE at a time (keyset paging on seq)."""
    query = (
        select(AuditEvent)
        .where(*_conditions(actor, filters))
        .order_by(col(AuditEvent.seq).desc())
        .limit(PAGE_SIZE)
    )
    return list(session.exec(query))


def stream(session: Session, actor: Actor, filters: AuditFilter) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, fetched in batches (for CSV export)."""
    query = select(AuditEvent).where(*_conditions(actor, filters)).order_by(col(AuditEvent.seq))
    yield from session.exec(query.execution_options(yield_per=500))
