"""Reading the audit log: who may see which events, filters, paging, and the names people read.

Visibility (unchanged by issue 16): administrators see every record; a buyer advisor sees the
records of their own organisation's people and every record about an engagement their
organisation is the buyer of. Names come in the same statement as the records (outer joins on
the actor's account and organisation and on the engagement), so a page costs the same number of
statements whatever it holds; the filter's choices are one statement each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.domain.access import Actor, Role
from app.domain.audit_labels import action_label, actor_label
from app.models import AuditEvent, Engagement, Organisation, User

PAGE_SIZE = 100
STREAM_BATCH = 500
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
    engagement_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record with the names a person reads in place of its ids (the ids stay on `event`)."""

    event: AuditEvent
    actor: str  # the person's name, or who acted without an account (app.domain.audit_labels)
    organisation: str  # the actor's organisation's name, "" when there is none
    action: str  # the action's label
    engagement_reference: str
    engagement_title: str


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a filter: the value the query string carries and the text shown."""

    value: str
    label: str


def _visible(actor: Actor) -> list[ColumnElement[bool]]:
    if actor.role is Role.ADMINISTRATOR:
        return []
    # Advisors see their own organisation's events and those about their engagements.
    own_engagements = select(Engagement.id).where(Engagement.buyer_org_id == actor.org_id)
    return [
        or_(
            col(AuditEvent.actor_org_id) == actor.org_id,
            col(AuditEvent.engagement_id).in_(own_engagements),
        )
    ]


def _conditions(actor: Actor, filters: AuditFilter) -> list[ColumnElement[bool]]:
    conditions = _visible(actor)
    equal = (
        (AuditEvent.action, filters.action),
        (AuditEvent.outcome, filters.outcome),
        (AuditEvent.actor_user_id, filters.actor_user_id),
        (AuditEvent.object_id, filters.object_id),
        (AuditEvent.engagement_id, filters.engagement_id),
    )
    conditions.extend(col(column) == value for column, value in equal if value)
    if filters.since:
        conditions.append(col(AuditEvent.at) >= filters.since)
    if filters.until:
        conditions.append(col(AuditEvent.at) < filters.until)
    if filters.before_seq:
        conditions.append(col(AuditEvent.seq) < filters.before_seq)
    return conditions


def _named(actor: Actor, filters: AuditFilter) -> Any:
    """The matching records with their actor's name, organisation's name and engagement, in one
    statement (outer joins: a record keeps its place when the account or engagement is gone).
    SQLAlchemy's own `select`, as SQLModel's types stop at four columns."""
    org = aliased(Organisation)
    return (
        select_columns(
            AuditEvent, col(User.name), col(org.name), col(Engagement.reference), col(Engagement.title)
        )
        .outerjoin(User, col(User.id) == col(AuditEvent.actor_user_id))
        .outerjoin(org, col(org.id) == col(AuditEvent.actor_org_id))
        .outerjoin(Engagement, col(Engagement.id) == col(AuditEvent.engagement_id))
        .where(*_conditions(actor, filters))
    )


def _entry(row: Any) -> AuditEntry:
    event, user_name, org_name, reference, title = row
    return AuditEntry(
        event=event,
        actor=actor_label(user_id=event.actor_user_id, user_name=user_name, address=event.address),
        organisation=org_name or "",
        action=action_label(event.action),
        engagement_reference=reference or "",
        engagement_title=title or "",
    )


def page(session: Session, actor: Actor, filters: AuditFilter) -> list[AuditEntry]:
    """Newest first, PAGE_SIZE at a time (keyset paging on seq), with names: one statement."""
    query = _named(actor, filters).order_by(col(AuditEvent.seq).desc()).limit(PAGE_SIZE)
    return [_entry(row) for row in session.execute(query)]


def stream(session: Session, actor: Actor, filters: AuditFilter) -> Iterator[AuditEntry]:
    """Every matching record with names, oldest first, fetched in batches (for CSV export)."""
    query = _named(actor, filters).order_by(col(AuditEvent.seq))
    for row in session.execute(query.execution_options(yield_per=STREAM_BATCH)):
        yield _entry(row)


def people(session: Session, actor: Actor) -> list[Choice]:
    """The people the viewer may pick in the person filter, by name and organisation.

    An administrator: everyone. An advisor: their own organisation's people and those of the
    suppliers in engagements their organisation buys, the accounts whose records they can see;
    never another buyer's or an unrelated supplier's people. Two people with the same name in
    the same organisation are told apart by their email addresses."""
    query = select(User.id, User.name, User.email, Organisation.name).join(
        Organisation, col(Organisation.id) == col(User.organisation_id)
    )
    if actor.role is not Role.ADMINISTRATOR:
        suppliers = select(Engagement.supplier_org_id).where(Engagement.buyer_org_id == actor.org_id)
        query = query.where(
            or_(col(User.organisation_id) == actor.org_id, col(User.organisation_id).in_(suppliers))
        )
    rows = list(session.execute(query.order_by(col(User.name), col(Organisation.name), col(User.email))))
    seen = Counter((name, org_name) for _, name, _, org_name in rows)
    return [
        Choice(user_id, f"{name}, {org_name}" + (f" ({email})" if seen[(name, org_name)] > 1 else ""))
        for user_id, name, email, org_name in rows
    ]


def engagements(session: Session, actor: Actor) -> list[Choice]:
    """The engagements the viewer may pick in the engagement filter, by reference and title:
    every one for an administrator, their organisation's as buyer for an advisor."""
    query = select(Engagement.id, Engagement.reference, Engagement.title)
    if actor.role is not Role.ADMINISTRATOR:
        query = query.where(Engagement.buyer_org_id == actor.org_id)
    rows = session.execute(query.order_by(col(Engagement.reference), col(Engagement.title)))
    return [Choice(engagement_id, f"{reference}: {title}") for engagement_id, reference, title in rows]
