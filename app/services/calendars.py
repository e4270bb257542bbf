"""The Working Day calendar of an engagement (app.domain.calendar): bank holidays of its
jurisdiction from the `holidays` package (pinned; weekend entries dropped, substitute days kept),
plus the closure days its buyer declared only when the parties agreed that they count (a
`calendar` agreed variation in force). Otherwise closure days move no deadline; they are shown
beside the deadlines they fall in, as information. Buyer advisors keep their organisation's
closure days here (add, remove, list), each change audited."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays
from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.access import Action, can
from app.domain.audit import AuditAction
from app.domain.calendar import JURISDICTIONS, ClosureFact, WorkingCalendar, contract_calendar
from app.domain.errors import Denied, InvalidInput, NotFound, Refused
from app.domain.variations import VariationKind
from app.models import AgreedVariation, ClosureDay, Engagement
from app.services.caller import Caller

SUBDIVISIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}
FIRST_YEAR, LAST_YEAR = 2015, 2040


@lru_cache(maxsize=8)
def bank_holidays(jurisdiction: str) -> frozenset[date]:
    """Weekday bank holidays (including substitute days) of a UK jurisdiction."""
    if jurisdiction not in SUBDIVISIONS:
        raise InvalidInput(
            f"Unknown jurisdiction {jurisdiction!r}; choose one of {', '.join(JURISDICTIONS)}."
        )
    table = holidays.country_holidays(
        "GB", subdiv=SUBDIVISIONS[jurisdiction], years=range(FIRST_YEAR, LAST_YEAR + 1)
    )
    return frozenset(day for day in table if day.weekday() < 5)


def closure_days(session: Session, buyer_org_id: str) -> list[ClosureDay]:
    query = select(ClosureDay).where(ClosureDay.buyer_org_id == buyer_org_id).order_by(col(ClosureDay.day))
    return list(session.exec(query))


def closure_facts(session: Session, buyer_org_id: str) -> list[ClosureFact]:
    """The buyer's closure days as the deadline rules read them."""
    return [ClosureFact(c.day, c.reason) for c in closure_days(session, buyer_org_id)]


def closures_agreed(session: Session, engagement_id: str) -> bool:
    """True when a `calendar` agreed variation is in force: closure days are not Working Days."""
    query = select(AgreedVariation.id).where(
        AgreedVariation.engagement_id == engagement_id,
        AgreedVariation.kind == VariationKind.CALENDAR,
        col(AgreedVariation.removed_at).is_(None),
    )
    return session.exec(query).first() is not None


def calendar_for(
    session: Session,
    engagement: Engagement,
    *,
    closures: list[ClosureFact] | None = None,
    agreed: bool | None = None,
) -> WorkingCalendar:
    """The engagement's Working Days: its jurisdiction's bank holidays, and its buyer's closure
    days only under an agreed calendar. `closures` and `agreed`, when the caller has read them
    already, save the queries."""
    if agreed is None:
        agreed = closures_agreed(session, engagement.id)
    if agreed and closures is None:
        closures = closure_facts(session, engagement.buyer_org_id)
    return contract_calendar(bank_holidays(engagement.jurisdiction), closures or (), closures_agreed=agreed)


def _require_closures(caller: Caller, object_id: str) -> None:
    """Closure days are the buyer advisors' (a public rule: refused with 403, audited)."""
    if not can(caller.actor, Action.MANAGE_CLOSURES):
        raise Denied(
            "Closure days are set by the buyer's security advisors.",
            action=Action.MANAGE_CLOSURES,
            object_type="closure_day",
            object_id=object_id,
        )


def own_closure_days(session: Session, caller: Caller) -> list[ClosureDay]:
    """The closure days of the caller's organisation (buyer advisors only)."""
    _require_closures(caller, "")
    return closure_days(session, caller.actor.org_id)


def add_closure_day(session: Session, caller: Caller, *, day: date | str, reason: str) -> ClosureDay:
    """A day the caller's (buyer's) office is closed, audited; `day` as typed (YYYY-MM-DD) or a
    date, inside the window of app.domain.dates. It moves no deadline, except in engagements
    whose parties agreed that closure days are not Working Days (a `calendar` variation)."""
    _require_closures(caller, "")
    buyer_org_id = caller.actor.org_id
    if isinstance(day, str):
        parsed = dates.parse(day, "day", "Closure day")
        assert parsed is not None  # required
        day = parsed
    else:
        dates.check(day, "day", "Closure day")
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("Say why the office is closed on that day.", details={"reason": "Enter a reason."})
    if day.weekday() >= 5:
        raise InvalidInput(
            "Weekends are never Working Days; choose a weekday.", details={"day": "Choose a weekday."}
        )
    if any(c.day == day for c in closure_days(session, buyer_org_id)):
        raise InvalidInput("That day is already a closure day.", details={"day": "Already a closure day."})
    closure = ClosureDay(buyer_org_id=buyer_org_id, day=day, reason=reason[:200])
    session.add(closure)
    session.flush()
    caller.record(
        session,
        AuditAction.CLOSURE_DAY_ADDED,
        object_type="closure_day",
        object_id=closure.id,
        details={"day": closure.day.isoformat()},
    )
    session.flush()
    return closure


def remove_closure_day(session: Session, caller: Caller, closure_id: str) -> ClosureDay:
    """Take back a closure day of the caller's organisation (under an agreed calendar the day
    counts as a Working Day again), audited. Another organisation's closure day is refused as
    not found, audited."""
    closure = session.get(ClosureDay, closure_id)
    if closure is None:
        raise NotFound("No such closure day.")
    if not can(caller.actor, Action.MANAGE_CLOSURES) or closure.buyer_org_id != caller.actor.org_id:
        raise Refused(
            "No such closure day.",
            action=Action.MANAGE_CLOSURES,
            object_type="closure_day",
            object_id=closure_id,
        )
    session.delete(closure)
    session.flush()
    caller.record(
        session,
        AuditAction.CLOSURE_DAY_REMOVED,
        object_type="closure_day",
        object_id=closure.id,
        details={"day": closure.day.isoformat()},
    )
    session.flush()
    return closure
