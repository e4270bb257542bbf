"""The entry window and date arithmetic at the edges of the calendar (issue 11, item 5).

Tables of cases for the window; hypothesis for the arithmetic: whatever date is stored (any day
Python can represent, 0001-01-01 to 9999-12-31), nothing that adds days, months or years to it
raises, and inside the calendar the saturating arithmetic is exact.
"""

from __future__ import annotations

import calendar
import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import dates
from app.domain import reminders as rules
from app.domain.calendar import WorkingCalendar
from app.domain.certificates import Entry, Scheme, check_entry, default_expiry, state_on
from app.domain.dates import EARLIEST, LATEST, add_days, add_months, add_years, shift
from app.domain.deadlines import (
    DecisionFact,
    EntryFact,
    History,
    NoticeFact,
    SubmissionFact,
    compute,
    contract_years,
)
from app.domain.errors import InvalidInput
from app.domain.workflow import PROFILES
from app.services import ics

D = date.fromisoformat
WINDOW = "must be between 1 January 2000 and 31 December 2100."
ANY_DAY = st.dates()  # 0001-01-01 to 9999-12-31: what old rows may hold
TODAY = st.dates(min_value=EARLIEST, max_value=LATEST)  # what a clock (or --as-of) gives
EDGES = st.sampled_from([date.min, date.max, date.min + timedelta(days=3), date.max - timedelta(days=3)])
STORED = st.one_of(EDGES, ANY_DAY)
CALENDAR = WorkingCalendar.of([D("2024-12-25"), date.max, date.max - timedelta(days=1), date.min])


@pytest.mark.parametrize(
    ("value", "required", "not_after", "expected", "problem"),
    [
        ("2024-07-30", True, None, D("2024-07-30"), None),
        ("  2000-01-01 ", True, None, EARLIEST, None),
        ("2100-12-31", True, None, LATEST, None),
        ("1999-12-31", True, None, None, f"Effective date {WINDOW}"),
        ("2101-01-01", True, None, None, f"Effective date {WINDOW}"),
        ("0001-01-01", True, None, None, f"Effective date {WINDOW}"),
        ("9999-12-31", True, None, None, f"Effective date {WINDOW}"),
        ("", False, None, None, None),
        (None, False, None, None, None),
        ("", True, None, None, "Enter the effective date as YYYY-MM-DD."),
        ("20240730", True, None, None, "Enter the effective date as YYYY-MM-DD."),
        ("2024-W31-2", True, None, None, "Enter the effective date as YYYY-MM-DD."),
        ("30/07/2024", True, None, None, "Enter the effective date as YYYY-MM-DD."),
        ("2024-02-30", True, None, None, "Enter the effective date as YYYY-MM-DD."),
        ("2026-03-02", True, D("2026-03-01"), None, "Effective date cannot be in the future."),
        ("2026-03-01", True, D("2026-03-01"), D("2026-03-01"), None),
    ],
)
def test_read_keeps_dates_inside_the_window_and_names_the_field(
    value: str | None, required: bool, not_after: date | None, expected: date | None, problem: str | None
) -> None:
    problems: dict[str, str] = {}
    got = dates.read(
        value, "effective_date", "Effective date", problems, required=required, not_after=not_after
    )
    assert got == expected
    assert problems == ({"effective_date": problem} if problem else {})


def test_parse_and_check_raise_invalid_input_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        dates.parse("9999-12-31", "day", "Closure day")
    assert refused.value.message == f"Closure day {WINDOW}"
    assert refused.value.details == {"day": refused.value.message}
    with pytest.raises(InvalidInput) as future:
        dates.check(D("2026-03-02"), "issued_on", "Issue date", not_after=D("2026-03-01"))
    assert future.value.details == {"issued_on": "Issue date cannot be in the future."}
    assert dates.check(LATEST, "day", "Closure day") == LATEST
    assert dates.long_form(EARLIEST) == "1 January 2000"


@given(STORED, st.integers(min_value=-4_000_000, max_value=4_000_000))
def test_day_arithmetic_saturates_and_is_exact_inside_the_calendar(day: date, days: int) -> None:
    ordinal = day.toordinal() + days
    inside = 1 <= ordinal <= date.max.toordinal()
    assert shift(day, days) == (date.fromordinal(ordinal) if inside else None)
    assert add_days(day, days) == (
        date.fromordinal(ordinal) if inside else (date.min if days < 0 else date.max)
    )


@given(STORED, st.integers(min_value=-200_000, max_value=200_000))
def test_month_arithmetic_saturates_keeps_order_and_clamps_the_day(day: date, months: int) -> None:
    got = add_months(day, months)
    assert (got >= day) if months >= 0 else (got <= day)
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if date.min.year <= year <= date.max.year:
        assert (got.year, got.month) == (year, month + 1)
        assert got.day == min(day.day, calendar.monthrange(year, month + 1)[1])
    else:
        assert got == (date.min if months < 0 else date.max)


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (D("2024-02-29"), 1, D("2025-02-28")),
        (D("2024-02-29"), 4, D("2028-02-29")),
        (D("2024-07-30"), 1, D("2025-07-30")),
        (D("9999-12-31"), 1, date.max),
        (D("9999-02-28"), 1, date.max),
        (D("0001-01-01"), -1, date.min),
        (D("2024-01-31"), 0, D("2024-01-31")),
    ],
)
def test_anniversaries(day: date, years: int, expected: date) -> None:
    assert add_years(day, years) == expected


@given(STORED, st.integers(min_value=-60, max_value=60))
def test_working_day_counting_never_overflows(start: date, days: int) -> None:
    end = CALENDAR.add(start, days)
    assert (end >= start) if days >= 0 else (end <= start)
    assert CALENDAR.within(start, days) == end
    if days >= 0 and end < date.max:  # not saturated: exact, and `count` is its inverse
        assert CALENDAR.count(start, end) == days
        assert end == start or CALENDAR.is_working_day(end)


@settings(max_examples=25, deadline=None)
@given(
    effective=STORED,
    today=TODAY,
    submitted=st.lists(STORED, max_size=3),
    decided=st.lists(STORED, max_size=3),
    noticed=st.lists(st.tuples(STORED, STORED), max_size=2),
    agreed=st.lists(st.one_of(st.none(), STORED), max_size=2),
    profile_id=st.sampled_from(sorted(PROFILES)),
)
def test_deadlines_of_any_stored_history_never_raise(
    effective: date,
    today: date,
    submitted: list[date],
    decided: list[date],
    noticed: list[tuple[date, date]],
    agreed: list[date | None],
    profile_id: str,
) -> None:
    subs = tuple(SubmissionFact(f"s{i}", i + 1, 1, day) for i, day in enumerate(submitted))
    decisions = tuple(DecisionFact(f"s{i}", day, False) for i, day in enumerate(decided[: len(subs)]))
    history = History(
        "e",
        effective,
        submissions=subs,
        decisions=decisions,
        notices=tuple(NoticeFact(f"n{i}", "n", a, f) for i, (a, f) in enumerate(noticed)),
        entries=tuple(EntryFact(f"r{i}", "r", day, None) for i, day in enumerate(agreed)),
    )
    deadlines = compute(history, PROFILES[profile_id], CALENDAR, today=today)
    assert all(date.min <= d.due_on <= date.max for d in deadlines)
    items = [rules.from_deadline(d, supplier_org_id="o", link="/e") for d in deadlines]
    for last_run in (None, add_days(today, -1), date.min, date.max):
        rules.due(items, rules.RULES, last_run, today)  # never raises
    ics.calendar(items, base_url="https://attest.example", name="Feed")


@given(effective=STORED, today=TODAY)
def test_contract_years_and_anniversaries_of_any_effective_date(effective: date, today: date) -> None:
    years = contract_years(effective, today)
    assert all(start <= end for _, start, end in years)
    assert all(b[1] == a[2] + timedelta(days=1) for a, b in itertools.pairwise(years))
    found = rules.anniversaries(effective, add_days(today, -400), add_days(today, 400))
    assert all(day > effective for day in found)


def test_contract_years_at_the_end_of_the_calendar() -> None:
    assert contract_years(date.max, LATEST) == []
    assert contract_years(D("9999-06-01"), date.max) == [(1, D("9999-06-01"), date.max)]
    assert contract_years(D("9998-06-01"), date.max) == [
        (1, D("9998-06-01"), D("9999-05-31")),
        (2, D("9999-06-01"), date.max),
    ]
    assert rules.anniversaries(date.max, date.max - timedelta(days=10), date.max) == []
    assert rules.anniversaries(D("9998-12-31"), D("9999-01-01"), date.max) == [D("9999-12-31")]


@given(issued=STORED, expires=st.one_of(st.none(), STORED), today=TODAY, scheme=st.sampled_from(list(Scheme)))
def test_certificate_rules_of_any_stored_dates_never_raise(
    issued: date, expires: date | None, today: date, scheme: Scheme
) -> None:
    default = default_expiry(scheme, issued)
    assert default is None or default >= issued
    check_entry(
        Entry(scheme, issued, expires, expires, expires), today=today, basic_ce_issued=[issued, date.max]
    )
    assert state_on(expires, today) in ("current", "expiring", "expired")


def test_reminders_of_items_at_the_edges_are_never_due_and_never_raise() -> None:
    items = [
        rules.Item(rules.CERTIFICATE_EXPIRY, "c1", date.max, "Max", "/c", "o"),
        rules.Item(rules.CERTIFICATE_EXPIRY, "c2", date.min, "Min", "/c", "o"),
    ]
    assert rules.due(items, rules.RULES, None, D("2026-03-01")) == []
    assert rules.window(date.max, date.max) == (date.max, date.max)
    assert rules.window(None, date.min) == (date.min, date.min)
    text = ics.calendar(items, base_url="https://attest.example", name="Feed")
    assert "DTSTART;VALUE=DATE:00010101" in text and "99991231" not in text  # no event without an end day
