"""London rule (app.domain.dates): a day that counts is the Europe/London date of the instant."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.domain.dates import london_date, london_text


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        ("2026-06-30T23:30:00+00:00", date(2026, 7, 1)),  # 00:30 BST: already 1 July in London
        ("2026-12-31T23:30:00+00:00", date(2026, 12, 31)),  # GMT: London is UTC in winter
        ("2026-03-28T23:30:00+00:00", date(2026, 3, 28)),  # the night before BST starts (29 March)
        ("2026-03-29T23:30:00+00:00", date(2026, 3, 30)),  # the first BST night
        ("2026-10-24T23:30:00+00:00", date(2026, 10, 25)),  # the last BST night (ends 25 October)
        ("2026-10-25T23:30:00+00:00", date(2026, 10, 25)),  # GMT again
    ],
)
def test_london_date_of_a_utc_instant(instant: str, day: date) -> None:
    assert london_date(datetime.fromisoformat(instant)) == day


def test_a_naive_instant_is_taken_as_utc_as_rows_are_stored() -> None:
    assert london_date(datetime(2026, 6, 30, 23, 30)) == date(2026, 7, 1)


def test_times_are_shown_in_london_with_gmt_or_bst() -> None:
    assert london_text(datetime(2026, 12, 1, 20, 30, tzinfo=UTC)) == "1 Dec 2026 20:30 GMT"
    assert london_text(datetime(2026, 6, 30, 23, 30, 5, tzinfo=UTC)) == "1 Jul 2026 00:30 BST"
    assert (
        london_text(datetime(2026, 6, 30, 23, 30, 5, tzinfo=UTC), seconds=True) == "1 Jul 2026 00:30:05 BST"
    )
