"""The home page of one person, by role: what they are working on and what to do next.

Composed here once (`home_view`); the page only renders it. A fixed number of statements
whatever the number of engagements, controls or answers: a few for the person (assigned
controls, what is due, the organisation's leads or the review queue), and the readiness and plan
state of the first `HOME_LIMIT` engagements read set-based (app.services.overview.many); the rest
are counted and reached through the engagements list or the portfolio."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.domain.access import SUPPLIER_ROLES, Actor, Role
from app.domain.catalogue import Catalogue, Library
from app.domain.workflow import State
from app.models import ControlResponse, Engagement, Organisation, User
from app.services import overview
from app.services.caller import Caller
from app.services.certificates.glance import Store
from app.services.deadlines import QueueItem, review_queue
from app.services.engagements import organisation_names, visible, visible_count
from app.services.notifications import DueSoon, due_soon
from app.services.responses import assigned_to

HOME_LIMIT = 50  # engagements listed on the home page, by reference; the rest are counted
DUE_LIMIT = 10  # items the "due soon" panel lists until the person asks for all of them


@dataclass(frozen=True, slots=True)
class NextStep:
    """What the engagement needs next, and the page where it is done."""

    text: str
    route: str  # a route name taking `engagement_id`


@dataclass(frozen=True, slots=True)
class EngagementLine:
    engagement: Engagement
    counterpart: str  # the buyer's name, for a supplier
    score: float
    blockers: int
    unanswered: int
    plan_state: str
    may_process: bool
    next_step: NextStep | None


@dataclass(frozen=True, slots=True)
class AssignedControl:
    engagement: Engagement
    response: ControlResponse
    title: str


@dataclass(frozen=True, slots=True)
class AdminCounts:
    organisations: int
    users: int
    engagements: int


@dataclass(frozen=True, slots=True)
class HomeView:
    """Everything the home page shows; `role` is None when nobody is signed in."""

    role: str | None
    catalogues: tuple[Catalogue, ...]
    engagements: list[EngagementLine] = field(default_factory=list)
    assigned: list[AssignedControl] = field(default_factory=list)
    due: list[DueSoon] = field(default_factory=list)
    leads: list[User] = field(default_factory=list)  # the supplier organisation's leads
    reviews: list[QueueItem] | None = None
    admin: AdminCounts | None = None
    total: int = 0  # how many engagements the person sees (the list shows the first HOME_LIMIT)
    all_due: bool = False  # list every item due soon, not only the first DUE_LIMIT

    @property
    def due_shown(self) -> list[DueSoon]:
        """The "due soon" panel's items: the first DUE_LIMIT, soonest first, or all of them."""
        return self.due if self.all_due else self.due[:DUE_LIMIT]

    @property
    def overdue(self) -> list[DueSoon]:
        return [d for d in self.due if d.days < 0]

    @property
    def upcoming(self) -> list[DueSoon]:
        return [d for d in self.due if d.days >= 0]

    @property
    def open_assigned(self) -> list[AssignedControl]:
        """Assigned answers still short of met or not applicable."""
        return [a for a in self.assigned if a.response.status not in ("met", "not_applicable")]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def next_step(plan_state: str, unanswered: int, blockers: int, *, lead: bool) -> NextStep | None:
    """The one next step for a supplier, from the plan's state (app.domain.workflow.State) and the
    readiness counts. Only a lead submits (the contributor is told so)."""
    state = State(plan_state)
    if state is State.DRAFT:
        if unanswered:
            return NextStep(f"Answer {_plural(unanswered, 'unanswered control')}", "engagements:show")
        if lead:
            return NextStep("Submit the plan", "approvals:plan")
        return NextStep("Every control is answered: your lead can submit the plan", "approvals:plan")
    if state is State.REJECTED:
        return NextStep("Revise after rejection and resubmit the plan", "approvals:plan")
    if state is State.SUBMITTED:
        return NextStep("Wait for the buyer's decision on the submitted plan", "approvals:plan")
    if state is State.DISPUTE:
        return NextStep("The plan is in the Dispute Resolution Procedure", "approvals:plan")
    if state is State.APPROVED and blockers:
        return NextStep(
            f"Clear {_plural(blockers, 'blocker')} before processing buyer data", "engagements:show"
        )
    return None  # approved and clear, or terminated: nothing to do


def _lines(
    session: Session, library: Library, engagements: list[Engagement], actor: Actor, *, today: date
) -> list[EngagementLine]:
    supplier = actor.role in SUPPLIER_ROLES
    # a supplier sees its buyers' names; a buyer already knows its suppliers from the review queue
    ids = {e.buyer_org_id for e in engagements} if supplier else set()
    names = organisation_names(session, sorted(ids)) if ids else {}
    found = overview.many(session, library, engagements, today=today)  # a fixed number of queries
    lines = []
    for engagement in engagements:
        readiness = found.readiness[engagement.id]
        state = found.states[engagement.id].value
        unanswered = readiness.counts.get("unanswered", 0)
        blockers = len(readiness.blockers)
        step = (
            next_step(state, unanswered, blockers, lead=actor.role is Role.SUPPLIER_LEAD)
            if supplier
            else None
        )
        counterpart = names.get(engagement.buyer_org_id, "")
        lines.append(
            EngagementLine(
                engagement, counterpart, readiness.score, blockers, unanswered, state, not blockers, step
            )
        )
    return lines


def _leads(session: Session, org_id: str) -> list[User]:
    query = (
        select(User)
        .where(
            User.organisation_id == org_id, User.role == Role.SUPPLIER_LEAD, col(User.disabled_at).is_(None)
        )
        .order_by(col(User.name))
    )
    return list(session.exec(query))


def _count(session: Session, model: type[Organisation] | type[User] | type[Engagement]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def home_view(
    session: Session,
    library: Library,
    caller: Caller | None,
    today: date,
    *,
    all_due: bool = False,
    store: Store | None = None,
) -> HomeView:
    """The home page for `caller` (None: signed out); `all_due`: every item due soon listed;
    `store`: where the engagement summaries this read recomputes are written (None: nowhere)."""
    catalogues = tuple(library.catalogues)
    if caller is None:
        return HomeView(role=None, catalogues=catalogues)
    actor = caller.actor
    if actor.role is Role.ADMINISTRATOR:
        counts = AdminCounts(
            _count(session, Organisation), _count(session, User), _count(session, Engagement)
        )
        return HomeView(role=actor.role.value, catalogues=catalogues, admin=counts)
    due = due_soon(session, library, actor, today=today, store=store)
    if actor.role is Role.BUYER_ADVISOR:  # a buyer's engagements can be thousands: the first few
        listed = visible(session, actor, limit=HOME_LIMIT)
        reviews = review_queue(session, actor.org_id, today=today)
        return HomeView(
            actor.role.value,
            catalogues,
            engagements=_lines(session, library, listed, actor, today=today),
            due=due,
            reviews=reviews,
            total=visible_count(session, actor),
            all_due=all_due,
        )
    engagements = visible(session, actor)  # a supplier's: its assigned controls are in any of them
    lines = _lines(session, library, engagements[:HOME_LIMIT], actor, today=today)
    by_id = {e.id: e for e in engagements}
    assigned = [
        AssignedControl(
            by_id[r.engagement_id], r, c.title if (c := library.controls.get(r.control_id)) else ""
        )
        for r in assigned_to(session, actor.user_id, list(by_id))
    ]
    leads = _leads(session, actor.org_id) if not engagements else []
    return HomeView(
        actor.role.value,
        catalogues,
        engagements=lines,
        assigned=assigned,
        due=due,
        leads=leads,
        total=len(engagements),
        all_due=all_due,
    )
