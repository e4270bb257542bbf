"""The Working Day calendar of an engagement: bank holidays of its jurisdiction from the
`holidays` package (pinned; weekend entries dropped, substitute days kept) plus the closure
days its buyer declared."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays
from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.calendar import JURISDICTIONS, WorkingCalendar
from app.domain.errors import InvalidInput
from app.models import ClosureDay, Engagement

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


def calendar_for(session: Session, engagement: Engagement) -> WorkingCalendar:
    extra = {c.day for c in closure_days(session, engagement.buyer_org_id)}
    return WorkingCalendar(bank_holidays(engagement.jurisdiction) | extra)


def add_closure_day(session: Session, *, buyer_org_id: str, day: date | str, reason: str) -> ClosureDay:
    """A day the buyer's office is closed; `day` as typed (YYYY-MM-DD) or a date, inside the
    window of app.domain.dates."""
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
    return closure
