"""Working days, as the contracts count them.

Rules:

- Call Off Schedule 7 (seed 002, definitions): "Working Day" is any day other than a Saturday,
  a Sunday or a public holiday in England and Wales, "unless specified otherwise by Parties in
  this Call Off Agreement". Schedule 2.4 (seed 001) and the CPS Security Policy (seed 000) use
  the defined term without the definition in the extracts; Attest reads them the same way.
- The public holidays are the bank holidays of the engagement's jurisdiction: England and Wales
  unless the engagement records Scotland or Northern Ireland. Attest reads a jurisdiction other
  than England and Wales, recorded when the engagement is created, as the Parties having
  "specified otherwise" in their agreement (the engagement's own record of its contract).
- Office closure days that a buyer declares are not public holidays and are declared by one
  party: they never move a contractual deadline. They count as non-Working Days only when both
  parties agreed so, recorded as a `calendar` agreed variation (app.domain.variations); otherwise
  they are shown beside the deadlines they fall on or span, as information (`ClosureFact`).
- "Within N Working Days of X" means by the end of the Nth Working Day after X; X itself is
  never counted, even when it is a Working Day (e.g. Schedule 2.4 para 4.4: effective
  30 July 2024 + 30 Working Days = 11 September 2024).

Holidays are an argument: this module never looks anything up. `app.services.calendars`
builds the set from the `holidays` package and, under an agreed calendar, the buyer's closure
days (`contract_calendar`).

Counting never overflows (app.domain.dates): a count that would run past 31 December 9999 (or
before 1 January 0001) stops there, so a date stored outside the entry window yields a far
date, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from app.domain.dates import shift

SATURDAY = 5
JURISDICTIONS = {
    "england-and-wales": "England and Wales",
    "scotland": "Scotland",
    "northern-ireland": "Northern Ireland",
}


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Weekends and the given holidays are not Working Days; every other day is."""

    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def of(cls, holidays: Iterable[date]) -> WorkingCalendar:
        return cls(frozenset(holidays))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < SATURDAY and day not in self.holidays

    def add(self, start: date, days: int) -> date:
        """The end of the `days`th Working Day after `start` (`start` not counted).

        `add(x, 0)` is `x` itself. Negative counts go backwards the same way."""
        step = 1 if days >= 0 else -1
        remaining = abs(days)
        day = start
        while remaining:
            following = shift(day, step)
            if following is None:  # the end of the calendar: saturate
                return day
            day = following
            if self.is_working_day(day):
                remaining -= 1
        return day

    def count(self, start: date, end: date) -> int:
        """Working Days after `start` up to and including `end` (0 when end <= start).

        The inverse of `add`: `count(x, add(x, n)) == n` for n >= 0."""
        if end <= start:
            return 0
        total = 0
        day: date | None = shift(start, 1)
        while day is not None and day <= end:
            total += self.is_working_day(day)
            day = shift(day, 1)
        return total

    def within(self, start: date, days: int) -> date:
        """The last day that is still "within `days` Working Days of `start`"."""
        return self.add(start, days)


@dataclass(frozen=True, slots=True)
class ClosureFact:
    """A day the buyer's office is closed, as the buyer declared it (information only, unless a
    calendar variation makes closure days count)."""

    day: date
    reason: str


def contract_calendar(
    bank_holidays: Iterable[date], closures: Iterable[ClosureFact], *, closures_agreed: bool
) -> WorkingCalendar:
    """The engagement's Working Day calendar: the jurisdiction's bank holidays, plus the buyer's
    closure days only when the parties agreed that they are not Working Days (a `calendar`
    agreed variation; Call Off Schedule 7 definition of Working Day, "unless specified otherwise
    by Parties")."""
    days = set(bank_holidays)
    if closures_agreed:
        days |= {c.day for c in closures}
    return WorkingCalendar(frozenset(days))
