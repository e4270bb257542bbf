"""Working days, as the contracts count them.

Rule (Schedule 2.4 and Call Off Schedule 7 both use the defined term "Working Day"): a
Working Day is Monday to Friday, except the bank holidays of the engagement's jurisdiction
(England and Wales by default; Scotland and Northern Ireland selectable) and any closure
days the buyer has declared. "Within N Working Days of X" means by the end of the Nth
Working Day after X; X itself is never counted, even when it is a Working Day
(e.g. Schedule 2.4 para 4.4: effective 30 July 2024 + 30 Working Days = 11 September 2024).

Holidays are an argument: this module never looks anything up. `app.services.calendars`
builds the set from the `holidays` package and the buyer's closure days.

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
