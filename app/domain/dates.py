"""Dates people type, and date arithmetic that never overflows.

Window rule: every date a person enters (an engagement's effective date, a control's target
date, a Required Changes Register entry's agreed and implemented dates, the date a supplier
became aware of a change, certificate issue, expiry and audit dates, evidence dates, a buyer's
closure day, the audit log's filters, `attest remind --as-of`) lies between EARLIEST
(1 January 2000) and LATEST (31 December 2100), both included, written YYYY-MM-DD. Contracts
under Schedule 2.4 and Call Off Schedule 7 run for years, not millennia; the window leaves room
for every real contract while keeping every date a deadline rule adds years or Working Days
to far from the end of Python's calendar (9999-12-31).

Facts rule: a date that records something that has already happened (a certificate's issue
date, the day the supplier became aware of a change) is not after "today", which is an
argument, never read from a clock here.

A refused date raises InvalidInput naming the field: its message names the field by its label
("Effective date must be between 1 January 2000 and 31 December 2100.") and its details are
`{field: message}`, as every service reports problems, so a form shows the message beside its
field and the API returns it under the field's name.

Arithmetic rule: rows stored before the window existed (or written by hand) may hold any date
Python can represent. `add_days`, `add_months` and `add_years` therefore saturate at date.min
and date.max instead of raising OverflowError; `shift`, `shift_months` and `shift_years` return
None when the result would leave the calendar, for callers that must skip rather than clamp
(a reminder's send day, the first day of a contract year that would begin after 9999).

London rule: the contracts are made in England, so a day that counts (today, the day a plan was
submitted or decided, a deadline, a "late" flag) is the date in Europe/London, never the
server's zone; and every time shown to a person is London time (GMT or BST). Instants are stored
in UTC; `london_date` gives an instant's London day and `london_text` its London wall time.
A submission at 00:30 BST on 1 July (23:30 UTC on 30 June) was made on 1 July. The clock is
read in app.clock, never here.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from app.domain.errors import InvalidInput

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIN_ORDINAL = date.min.toordinal()
_MAX_ORDINAL = date.max.toordinal()
LONDON = ZoneInfo("Europe/London")  # the tzdata package supplies it where the system has none


def in_london(instant: datetime) -> datetime:
    """`instant` on London's wall clock; a naive instant is taken as UTC (how rows are stored)."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return aware.astimezone(LONDON)


def london_date(instant: datetime) -> date:
    """The London date of `instant`: 2026-06-30T23:30Z is 1 July 2026 (BST)."""
    return in_london(instant).date()


def london(instant: datetime | None, fmt: str | None = None) -> str:
    """The Jinja filter `london` (pages and mail): `london_text`, or `fmt` applied to the London
    wall time (`{{ x.created_at | london("%d %b %Y") }}` gives its London date); "" for None."""
    if instant is None:
        return ""
    return london_text(instant) if fmt is None else in_london(instant).strftime(fmt)


def london_text(instant: datetime, *, seconds: bool = False) -> str:
    """1 Dec 2026 20:30 GMT (or BST in summer): how a moment is shown to a person."""
    local = in_london(instant)
    clock = f"{local.hour:02d}:{local.minute:02d}" + (f":{local.second:02d}" if seconds else "")
    return f"{local.day} {calendar.month_abbr[local.month]} {local.year} {clock} {local.tzname()}"


def long_form(day: date) -> str:
    """1 January 2000 (no leading zero, as GOV.UK writes dates)."""
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"


def window_message(label: str) -> str:
    return f"{label} must be between {long_form(EARLIEST)} and {long_form(LATEST)}."


def problem(day: date, label: str, *, not_after: date | None = None) -> str | None:
    """Why `day` may not be entered in the field labelled `label`; None when it may.

    `not_after` is "today" for dates that record facts (they cannot be in the future)."""
    if not EARLIEST <= day <= LATEST:
        return window_message(label)
    if not_after is not None and day > not_after:
        return f"{label} cannot be in the future."
    return None


def read(
    value: str | None,
    field: str,
    label: str,
    problems: dict[str, str],
    *,
    required: bool = False,
    not_after: date | None = None,
) -> date | None:
    """The date typed into `field`, or None (then `problems[field]` says why, unless the field
    was left empty and is optional). For services that collect every problem of a form."""
    text = (value or "").strip()
    if not text:
        if required:
            problems[field] = f"Enter the {label[:1].lower()}{label[1:]} as YYYY-MM-DD."
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems[field] = f"Enter the {label[:1].lower()}{label[1:]} as YYYY-MM-DD."
        return None
    if not _ISO_DAY.fullmatch(text):  # fromisoformat also takes 20240730 and 2024-W31-2
        problems[field] = f"Enter the {label[:1].lower()}{label[1:]} as YYYY-MM-DD."
        return None
    message = problem(day, label, not_after=not_after)
    if message:
        problems[field] = message
        return None
    return day


def parse(
    value: str | None, field: str, label: str, *, required: bool = True, not_after: date | None = None
) -> date | None:
    """Like `read`, but raises InvalidInput at once (details `{field: message}`)."""
    problems: dict[str, str] = {}
    day = read(value, field, label, problems, required=required, not_after=not_after)
    if problems:
        raise InvalidInput(problems[field], details=problems)
    return day


def check(day: date, field: str, label: str, *, not_after: date | None = None) -> date:
    """`day` itself when it may be entered; InvalidInput (details `{field: message}`) otherwise."""
    message = problem(day, label, not_after=not_after)
    if message:
        raise InvalidInput(message, details={field: message})
    return day


# --- arithmetic that cannot overflow ---------------------------------------------------------


def shift(day: date, days: int) -> date | None:
    """`day` + `days`, or None when that is before date.min or after date.max."""
    ordinal = day.toordinal() + days
    return date.fromordinal(ordinal) if _MIN_ORDINAL <= ordinal <= _MAX_ORDINAL else None


def add_days(day: date, days: int) -> date:
    """`day` + `days`, saturating at date.min and date.max."""
    return date.fromordinal(min(max(day.toordinal() + days, _MIN_ORDINAL), _MAX_ORDINAL))


def shift_months(day: date, months: int) -> date | None:
    """The same day `months` later (the month's last day when it is shorter), or None when that
    month is outside the calendar."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not date.min.year <= year <= date.max.year:
        return None
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def add_months(day: date, months: int) -> date:
    """`shift_months`, saturating at date.min and date.max."""
    shifted = shift_months(day, months)
    if shifted is None:
        return date.min if months < 0 else date.max
    return shifted


def shift_years(day: date, years: int) -> date | None:
    """The anniversary `years` later (29 February -> 28 February), or None past the calendar."""
    return shift_months(day, 12 * years)


def add_years(day: date, years: int) -> date:
    """`shift_years`, saturating at date.min and date.max."""
    return add_months(day, 12 * years)
