"""The engagements a person may see, one bounded page at a time, sorted in the database: the
engagements page (numbered pages, sortable columns) and `GET /api/engagements` (a cursor) both
list through `page_of`. A fixed number of statements whatever the number of engagements: the
count, the page, and the organisation names and catalogues of that page's rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.domain.access import SUPPLIER_ROLES, Actor, Role
from app.domain.errors import InvalidInput
from app.models import Engagement, Organisation
from app.services.engagements import organisation_names
from app.services.overview import catalogues_of

PAGE_SIZE = 50
MAX_LIMIT = 500
SORTS = ("reference", "title", "buyer", "supplier", "effective")
BAD_CURSOR = "The cursor is not valid for this list: start again without it."


@dataclass(frozen=True, slots=True)
class EngagementPage:
    rows: list[Engagement]
    names: dict[str, str]  # organisation names of the rows' buyers and suppliers
    catalogues: dict[str, list[str]]  # catalogue ids of each row
    total: int
    page: int
    pages: int
    sort: str
    descending: bool
    next_cursor: str | None  # the last row's id when more follow (keyset, by reference then id)


def _visible(query, actor: Actor):  # type: ignore[no-untyped-def]
    if actor.role in SUPPLIER_ROLES:
        return query.where(Engagement.supplier_org_id == actor.org_id)
    if actor.role is Role.BUYER_ADVISOR:
        return query.where(Engagement.buyer_org_id == actor.org_id)
    return query  # an administrator sees every engagement


def page_of(
    session: Session,
    actor: Actor,
    *,
    sort: str = "reference",
    descending: bool = False,
    page: int = 1,
    limit: int = PAGE_SIZE,
    cursor: str | None = None,
) -> EngagementPage:
    """One page of the engagements `actor` may see (app.services.engagements.visible's rule):
    page number `page` of `limit` rows sorted by `sort`, or with `cursor` (by reference only)
    the `limit` rows after the engagement it names. 422 for an unknown sort, a limit outside
    1..MAX_LIMIT, or a cursor that is not a visible engagement."""
    if sort not in SORTS:
        raise InvalidInput(f"Sort by one of {', '.join(SORTS)}.", details={"sort": sort})
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"The limit must be from 1 to {MAX_LIMIT}.", details={"limit": str(limit)})
    total = int(session.exec(_visible(select(func.count()).select_from(Engagement), actor)).one())
    query = _visible(select(Engagement), actor)
    pages = max(1, -(-total // limit))
    if cursor is not None:
        sort, descending = "reference", False
        after = session.exec(_visible(select(Engagement), actor).where(Engagement.id == cursor)).first()
        if after is None:
            raise InvalidInput(BAD_CURSOR, details={"cursor": "unknown"})
        reference, ident = col(Engagement.reference), col(Engagement.id)
        query = query.where(
            or_(reference > after.reference, and_(reference == after.reference, ident > after.id))
        )
        query = query.order_by(reference, ident).limit(limit + 1)
        page = 0  # not a numbered page
    else:
        page = min(max(page, 1), pages)
        query = query.order_by(*_order(sort, descending)).offset((page - 1) * limit).limit(limit + 1)
        if sort in ("buyer", "supplier"):
            query = _joined(query, sort)
    found = list(session.exec(query))
    more = len(found) > limit
    rows = found[:limit]
    org_ids = sorted({e.buyer_org_id for e in rows} | {e.supplier_org_id for e in rows})
    names = organisation_names(session, org_ids) if rows else {}
    catalogues = catalogues_of(session, [e.id for e in rows])
    next_cursor = (
        rows[-1].id if more and (cursor is not None or sort == "reference") and not descending else None
    )
    return EngagementPage(rows, names, catalogues, total, page, pages, sort, descending, next_cursor)


_BUYER = aliased(Organisation)
_SUPPLIER = aliased(Organisation)


def _order(sort: str, descending: bool) -> list[object]:
    column = {
        "reference": col(Engagement.reference),
        "title": col(Engagement.title),
        "buyer": col(_BUYER.name),
        "supplier": col(_SUPPLIER.name),
        "effective": col(Engagement.effective_on),
    }[sort]
    first = column.desc() if descending else column.asc()
    return [first, col(Engagement.reference), col(Engagement.id)]


def _joined(query, sort: str):  # type: ignore[no-untyped-def]
    if sort == "buyer":
        return query.join(_BUYER, col(_BUYER.id) == Engagement.buyer_org_id)
    return query.join(_SUPPLIER, col(_SUPPLIER.id) == Engagement.supplier_org_id)
