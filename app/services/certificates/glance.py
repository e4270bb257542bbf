"""The portfolio at a glance (issue 16 item 7), sorted and paged by stored summaries (issue 18
item 6): one row per engagement (readiness with its trend over the last year, plan state, next
open deadline, blockers, the worst state of the certificates its contract requires), PAGE_SIZE
to a page, then the certificate sections of that page's suppliers.

What a row shows is computed by the same rules as before (app.services.overview.many, the
certificate lines of app.services.certificates.portfolio) and stored per engagement
(app.models.EngagementSummary), so that sorting and paging read one light statement for every
engagement instead of computing each. A stored summary is used only for the stamp revision, the
day and the catalogues it was computed for (app.services.stamps moves the stamp on every write
that can change it); every other one is stale and is recomputed first, all of them in one
set-based batch, and handed back (`PortfolioPage.refreshed`) for the page to store in a short
write of its own (`store`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.domain.access import Actor
from app.domain.catalogue import Library
from app.domain.certificates import Coverage
from app.domain.deadlines import Deadline
from app.domain.errors import InvalidInput
from app.domain.reminders import due_soon_window
from app.domain.workflow import State
from app.models import (
    Engagement,
    EngagementDue,
    EngagementNeed,
    EngagementStamp,
    EngagementSummary,
    Organisation,
    PlanCase,
)
from app.services import overview
from app.services.certificates.portfolio import (
    ATTENTION,
    PAGE_SIZE,
    SORTS,
    WORST_FIRST,
    SupplierPortfolio,
    _lines,
    _Read,
    _refuse,
    _suppliers,
)
from app.services.certificates.register import holder_keys, row_of
from app.services.engagements import organisation_names
from app.services.reminders import items_of


@dataclass(frozen=True, slots=True)
class NextDeadline:
    """The next open deadline as the row shows it (what app.domain.deadlines.Deadline gives)."""

    due_on: date
    kind: str
    state: str
    late: bool
    subject: str


@dataclass(frozen=True, slots=True)
class Glance:
    """One engagement at a glance: readiness, plan state, next deadline, blockers, certificates."""

    engagement: Engagement
    supplier: str
    score: float
    plan_state: State
    next_deadline: NextDeadline | None
    blockers: int
    certificates: Coverage | None  # the worst required certificate's state; None: none required
    trend: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class PortfolioPage:
    rows: list[Glance]  # this page's engagements
    suppliers: list[SupplierPortfolio]  # the certificate sections of this page's suppliers
    counts: dict[Coverage, int]  # across every supplier
    total: int
    page: int
    pages: int
    sort: str
    descending: bool
    refreshed: int = 0  # how many stale summaries this page recomputed and stored


def library_key(library: Library) -> str:
    """The catalogues a summary was computed with: their ids and versions."""
    if library.fingerprint:
        return library.fingerprint[:64]
    text = ";".join(f"{c.id}@{c.version}" for c in sorted(library.catalogues, key=lambda c: c.id))
    return hashlib.sha256(text.encode()).hexdigest()


def _next_deadline(deadlines: list[Deadline]) -> Deadline | None:
    open_ = [d for d in deadlines if d.state in ("due", "overdue")]
    return min(open_, key=lambda d: (d.due_on, d.kind), default=None)


@dataclass(frozen=True, slots=True)
class Summaries:
    """Summaries computed from scratch, with their certificate needs, ready to store."""

    rows: dict[str, EngagementSummary]
    needs: list[EngagementNeed]
    dues: list[EngagementDue] = field(default_factory=list)


Store = Callable[[Summaries], None]  # writes summaries in a short write transaction of its own


def summarise(
    session: Session,
    library: Library,
    engagements: list[Engagement],
    revisions: dict[str, int],
    *,
    today: date,
) -> Summaries:
    """Each engagement's summary from scratch, set-based (a fixed number of statements): the
    readiness, plan and deadlines of app.services.overview.many, its trend, and the certificate
    lines its own contract asks for, judged on its supplier's register, and its open items in
    the day's "due soon" window (`revisions`: the stamp revision each is computed at, read
    before any of the rest)."""
    if not engagements:
        return Summaries({}, [])
    start, end = due_soon_window(today)
    buyers = organisation_names(session, sorted({e.buyer_org_id for e in engagements}))
    # one engagement whose deadlines cannot be computed is logged and left out (no summary: it is
    # tried again on the next read), so it never stops the pages about every other one
    found = overview.many(session, library, engagements, today=today, skipped=[])
    trends = overview.trends(session, found.readiness, today=today)
    in_scope = overview.catalogues_of(session, [e.id for e in engagements])
    reg = found.register
    registers = {}
    for org_id in {e.supplier_org_id for e in engagements}:
        org = reg.organisations.get(org_id)
        by_key = holder_keys([org_id], {org_id: org.name if org else ""}, reg.subcontractors.get(org_id, ()))
        registers[org_id] = [row_of(c, by_key, today) for c in reg.certificates.get(org_id, ())]
    key = library_key(library)
    out, needs, dues = {}, [], []
    for e in engagements:
        if e.id not in found.readiness:
            continue
        result = found.readiness[e.id]
        lines = _lines(reg.holders(e.supplier_org_id), registers[e.supplier_org_id], [e], in_scope)
        states = {line.state for line in lines}
        worst = next((c for c in WORST_FIRST if c in states), None)
        due = _next_deadline(found.deadlines[e.id])
        shown = (
            {
                "due_on": due.due_on.isoformat(),
                "kind": due.kind,
                "state": due.state,
                "late": due.late,
                "subject": due.subject,
            }
            if due
            else None
        )
        out[e.id] = EngagementSummary(
            engagement_id=e.id,
            revision=revisions.get(e.id, 0),
            computed_on=today,
            library=key,
            score=result.score,
            blockers=len(result.blockers),
            certificates=worst.value if worst else None,
            deadline_on=due.due_on if due else None,
            deadline=json.dumps(shown) if shown else None,
            trend=json.dumps(list(trends.get(e.id, ()))),
        )
        wanted = {(n.holder.key, n.requirement): n.state for n in lines if n.state in ATTENTION}
        needs += [
            EngagementNeed(engagement_id=e.id, holder_key=h, requirement=r, state=st.value)
            for (h, r), st in wanted.items()
        ]
        items = items_of(e, buyers.get(e.buyer_org_id, "the buyer"), start, end, found.deadlines[e.id])
        open_ = [i for i in items if start <= i.due_on <= end and not i.done]  # due_soon orders them
        dues += [
            EngagementDue(
                engagement_id=e.id,
                position=n,
                kind=i.kind,
                object_id=i.object_id,
                due_on=i.due_on,
                subject=i.subject,
                link=i.link,
            )
            for n, i in enumerate(open_)
        ]
    return Summaries(out, needs, dues)


def store(session: Session, summaries: Summaries) -> None:
    """Write summaries computed by a read (five statements). One written meanwhile by another
    request is as valid as this one: each names the revision and day it was computed for."""
    if not summaries.rows:
        return
    table = EngagementSummary.__table__  # type: ignore[attr-defined]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    columns = [c.name for c in table.columns]
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.engagement_id],
        set_={name: statement.excluded[name] for name in columns if name != "engagement_id"},
    )
    rows = list(summaries.rows.values())
    session.execute(statement, [{name: getattr(s, name) for name in columns} for s in rows])
    need = EngagementNeed.__table__  # type: ignore[attr-defined]
    session.execute(need.delete().where(need.c.engagement_id.in_(list(summaries.rows))))
    if summaries.needs:
        names = [c.name for c in need.columns]
        session.execute(need.insert(), [{n: getattr(x, n) for n in names} for x in summaries.needs])
    due = EngagementDue.__table__  # type: ignore[attr-defined]
    session.execute(due.delete().where(due.c.engagement_id.in_(list(summaries.rows))))
    if summaries.dues:
        names = [c.name for c in due.columns]
        session.execute(due.insert(), [{n: getattr(x, n) for n in names} for x in summaries.dues])


def fresh(library: Library, today: date) -> ColumnElement[bool]:
    """Whether an engagement's stored summary is fresh: its stamp's revision, today, these
    catalogues (to be used with EngagementSummary and EngagementStamp outer-joined)."""
    return and_(
        col(EngagementSummary.revision) == func.coalesce(EngagementStamp.revision, 0),
        col(EngagementSummary.computed_on) == today,
        col(EngagementSummary.library) == library_key(library),
    )


def _stale(
    session: Session, engagements: ColumnElement[bool], library: Library, today: date
) -> dict[str, int]:
    """The engagements matching `engagements` whose summary is missing or stale, with their
    stamp's revision, in one statement (read before any computation, so a write committed
    meanwhile leaves the new summary stale, never wrong)."""
    query = (
        select(Engagement.id, func.coalesce(EngagementStamp.revision, 0))
        .outerjoin(EngagementStamp, col(EngagementStamp.engagement_id) == Engagement.id)
        .outerjoin(EngagementSummary, col(EngagementSummary.engagement_id) == Engagement.id)
        .where(
            engagements,
            or_(col(EngagementSummary.engagement_id).is_(None), not_(fresh(library, today))),
        )
    )
    return {engagement_id: int(revision) for engagement_id, revision in session.exec(query)}


def refresh(
    session: Session, library: Library, engagements: ColumnElement[bool], *, today: date, store: Store | None
) -> Summaries:
    """Recompute, in one set-based batch, every missing or stale summary of the engagements
    matching `engagements` and hand them to `store` (None: keep them in memory only). Returns
    what was recomputed: until it is stored, a reader uses these instead of the stored rows."""
    stale = _stale(session, engagements, library, today)
    if not stale:
        return Summaries({}, [])
    query = select(Engagement).where(col(Engagement.id).in_(list(stale)))
    summaries = summarise(session, library, list(session.exec(query)), stale, today=today)
    if store is not None:
        store(summaries)
    return summaries


def _order(sort: str, descending: bool, dialect: str) -> list[Any]:
    """ORDER BY for a sort, as Python would order (sort key, reference): text in code point order."""

    def text(column: Any) -> Any:
        return column.collate("C") if dialect == "postgresql" else column

    summary = EngagementSummary
    if sort == "supplier":
        keys = [text(func.lower(Organisation.name))]
    elif sort == "readiness":
        keys = [col(summary.score)]
    elif sort == "plan":
        keys = [text(func.coalesce(PlanCase.state, State.DRAFT.value))]
    elif sort == "deadline":
        keys = [col(summary.deadline_on).is_(None), col(summary.deadline_on)]
    elif sort == "blockers":
        keys = [col(summary.blockers)]
    elif sort == "certificates":
        ranks = {c.value: n for n, c in enumerate(WORST_FIRST)}
        keys = [case(ranks, value=summary.certificates, else_=len(WORST_FIRST))]
    else:
        keys = []
    keys.append(text(col(Engagement.reference)))
    return [k.desc() if descending else k.asc() for k in keys]


def _counts(session: Session, buyer_org_id: str) -> dict[Coverage, int]:
    """How many required certificates are in each state needing attention, across every
    supplier: one per supplier, holder and requirement, however many engagements ask for it."""
    need = EngagementNeed
    distinct = (
        select(Engagement.supplier_org_id, need.holder_key, need.requirement, need.state)
        .join(Engagement, col(Engagement.id) == need.engagement_id)
        .where(Engagement.buyer_org_id == buyer_org_id)
        .distinct()
        .subquery()
    )
    query = select(distinct.c.state, func.count()).group_by(distinct.c.state)
    found = {state: int(n) for state, n in session.exec(query)}
    return {c: found.get(c.value, 0) for c in ATTENTION}


def _deadline(text: str | None) -> NextDeadline | None:
    if not text:
        return None
    d = json.loads(text)
    return NextDeadline(date.fromisoformat(d["due_on"]), d["kind"], d["state"], bool(d["late"]), d["subject"])


def glance(
    session: Session,
    library: Library,
    actor: Actor,
    *,
    today: date,
    store: Store,
    sort: str = "supplier",
    descending: bool = False,
    page: int = 1,
) -> PortfolioPage:
    """One page (PAGE_SIZE engagements) of the advisor's portfolio, sorted on the server by
    `sort` (one of SORTS), in a fixed number of statements. The stale summaries of the advisor's
    engagements are recomputed first, in one batch, and handed to `store`; the page is then read
    sorted and paged by the stored columns."""
    _refuse(actor)
    if sort not in SORTS:
        raise InvalidInput(f"Sort by one of {', '.join(SORTS)}.", details={"sort": sort})
    refreshed = refresh(
        session, library, col(Engagement.buyer_org_id) == actor.org_id, today=today, store=store
    )
    counted = (
        select(func.count())
        .select_from(Engagement)
        .join(EngagementSummary, col(EngagementSummary.engagement_id) == Engagement.id)
        .where(Engagement.buyer_org_id == actor.org_id)
    )
    total = int(session.exec(counted).one())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    dialect = session.get_bind().dialect.name
    query_page = (
        select(Engagement, Organisation.name, PlanCase.state, EngagementSummary)
        .join(Organisation, col(Organisation.id) == Engagement.supplier_org_id)
        .join(EngagementSummary, col(EngagementSummary.engagement_id) == Engagement.id)
        .outerjoin(PlanCase, col(PlanCase.engagement_id) == Engagement.id)
        .where(Engagement.buyer_org_id == actor.org_id)
        .order_by(*_order(sort, descending, dialect))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    rows = [
        Glance(
            e,
            supplier,
            s.score,
            State(plan) if plan else State.DRAFT,
            _deadline(s.deadline),
            s.blockers,
            Coverage(s.certificates) if s.certificates else None,
            tuple(float(v) for v in json.loads(s.trend)),
        )
        for e, supplier, plan, s in session.exec(query_page)
    ]
    # the certificate sections: the suppliers of this page, for this page's engagements (a
    # supplier with a thousand engagements would otherwise list them all on every page)
    on_page = {r.engagement.supplier_org_id for r in rows}
    theirs = sorted((r.engagement for r in rows), key=lambda e: e.reference)
    read = _Read(
        theirs,
        overview.register_of(session, on_page),
        overview.catalogues_of(session, [e.id for e in theirs]),
    )
    return PortfolioPage(
        rows,
        _suppliers(read, today=today),
        _counts(session, actor.org_id),
        total,
        page,
        pages,
        sort,
        descending,
        len(refreshed.rows),
    )
