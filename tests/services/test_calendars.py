"""Working days: table cases against the GOV.UK England and Wales list for 2024-2028
(../shared/reference/uk-working-days.md), including the substitute days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.domain.calendar import ClosureFact, WorkingCalendar, contract_calendar
from app.services.calendars import bank_holidays

ENGLAND_AND_WALES = """
2024-01-01 2024-03-29 2024-04-01 2024-05-06 2024-05-27 2024-08-26 2024-12-25 2024-12-26
2025-01-01 2025-04-18 2025-04-21 2025-05-05 2025-05-26 2025-08-25 2025-12-25 2025-12-26
2026-01-01 2026-04-03 2026-04-06 2026-05-04 2026-05-25 2026-08-31 2026-12-25 2026-12-28
2027-01-01 2027-03-26 2027-03-29 2027-05-03 2027-05-31 2027-08-30 2027-12-27 2027-12-28
2028-01-03 2028-04-14 2028-04-17 2028-05-01 2028-05-29 2028-08-28 2028-12-25 2028-12-26
"""
GOV_UK = {date.fromisoformat(d) for d in ENGLAND_AND_WALES.split()}
EW = WorkingCalendar(bank_holidays("england-and-wales"))


def test_the_package_gives_exactly_the_gov_uk_bank_holidays_2024_to_2028() -> None:
    ours = {d for d in bank_holidays("england-and-wales") if 2024 <= d.year <= 2028}
    assert ours == GOV_UK
    assert len(GOV_UK) == 40


@pytest.mark.parametrize(
    ("year", "working_days"), [(2024, 254), (2025, 253), (2026, 253), (2027, 253), (2028, 252)]
)
def test_working_days_per_year(year: int, working_days: int) -> None:
    assert EW.count(date(year - 1, 12, 31), date(year, 12, 31)) == working_days


@pytest.mark.parametrize(
    ("start", "days", "expected", "why"),
    [
        ("2024-07-30", 30, "2024-09-11", "Schedule 2.4 para 4.4 example: Summer bank holiday skipped"),
        ("2024-07-30", 20, "2024-08-28", "Call Off 4.3.1: 20 Working Days"),
        ("2024-12-23", 2, "2024-12-27", "Christmas Day and Boxing Day skipped"),
        ("2026-12-24", 1, "2026-12-29", "Boxing Day substitute Monday 28 Dec 2026"),
        ("2027-12-24", 1, "2027-12-29", "Christmas and Boxing Day substitutes 27, 28 Dec 2027"),
        ("2027-12-31", 1, "2028-01-04", "New Year substitute Monday 3 Jan 2028"),
        ("2025-04-17", 1, "2025-04-22", "Easter 2025"),
        ("2024-11-22", 0, "2024-11-22", "zero days is the day itself"),
        ("2024-11-23", 1, "2024-11-25", "from a Saturday: Monday is the first Working Day"),
        ("2024-11-22", 5, "2024-11-29", "start day never counted"),
        ("2024-09-11", -30, "2024-07-30", "backwards"),
    ],
)
def test_add(start: str, days: int, expected: str, why: str) -> None:
    assert EW.add(date.fromisoformat(start), days) == date.fromisoformat(expected), why


def test_count_is_the_inverse_of_add() -> None:
    start = date(2024, 1, 1)
    for n in range(0, 400, 7):
        assert EW.count(start, EW.add(start, n)) == n
    assert EW.count(date(2024, 5, 1), date(2024, 4, 1)) == 0


def test_jurisdictions_differ() -> None:
    scotland = WorkingCalendar(bank_holidays("scotland"))
    northern_ireland = WorkingCalendar(bank_holidays("northern-ireland"))
    assert not scotland.is_working_day(date(2026, 1, 2))  # 2 January, Scotland only
    assert EW.is_working_day(date(2026, 1, 2))
    assert not scotland.is_working_day(date(2026, 8, 3)) and EW.is_working_day(date(2026, 8, 3))
    assert not northern_ireland.is_working_day(date(2026, 3, 17))  # St Patrick's Day
    assert not northern_ireland.is_working_day(date(2026, 7, 13))  # Battle of the Boyne (observed)


def test_closure_days_count_only_when_the_parties_agreed_a_calendar() -> None:
    """Call Off Schedule 7 definition of Working Day: public holidays in England and Wales
    "unless specified otherwise by Parties". A closure day one party declares moves nothing;
    under an agreed calendar (a `calendar` variation) it is not a Working Day."""
    office_move = [ClosureFact(date(2024, 9, 2), "Office move")]
    contract = contract_calendar(bank_holidays("england-and-wales"), office_move, closures_agreed=False)
    agreed = contract_calendar(bank_holidays("england-and-wales"), office_move, closures_agreed=True)
    assert contract.add(date(2024, 7, 30), 30) == date(2024, 9, 11)  # as with no closure at all
    assert agreed.add(date(2024, 7, 30), 30) == date(2024, 9, 12)
    assert contract.is_working_day(date(2024, 9, 2)) and not agreed.is_working_day(date(2024, 9, 2))


def test_weekends_are_never_working_days() -> None:
    day = date(2024, 1, 6)
    for _ in range(300):
        assert not EW.is_working_day(day) and not EW.is_working_day(day + timedelta(days=1))
        day += timedelta(days=7)
