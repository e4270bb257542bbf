"""Reminder rules as data and the due calculation: windows, catch-up, keys, workflow deadlines."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from app.domain.deadlines import Deadline
from app.domain.reminders import (
    CERTIFICATE_EXPIRY,
    CERTIFICATE_SUBMISSION,
    FIRST_RUN_LOOKBACK_DAYS,
    RULES,
    Item,
    anniversaries,
    due,
    from_deadline,
    window,
)

EXPIRY = date(2026, 6, 30)
CERT = Item(
    CERTIFICATE_EXPIRY,
    "c1",
    EXPIRY,
    "The Cyber Essentials Plus certificate of Northwind",
    "/certificates/c1",
    "s1",
)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


@pytest.mark.parametrize(
    ("as_of", "expected_rules"),
    [
        (date(2026, 5, 1), ["cert-expiry-60"]),
        (date(2026, 5, 31), ["cert-expiry-30"]),
        (date(2026, 6, 23), ["cert-expiry-7"]),
        (date(2026, 6, 30), ["cert-expiry+0"]),
        (date(2026, 7, 7), ["cert-expired+7-buyer", "cert-expired+7-supplier"]),
        (date(2026, 7, 8), []),
        (date(2026, 4, 30), []),
    ],
)
def test_certificate_expiry_days(as_of: date, expected_rules: list[str]) -> None:
    got = due([CERT], RULES, as_of - timedelta(days=1), as_of)
    assert sorted(r.rule.id for r in got) == expected_rules
    assert all(r.send_on == as_of for r in got)


def test_daily_runs_send_each_reminder_once_and_match_one_long_run() -> None:
    items = [
        CERT,
        Item(CERTIFICATE_SUBMISSION, "e1", date(2026, 7, 30), "Annual submission", "/engagements/e1", "s1"),
    ]
    start = date(2026, 1, 1)
    daily = []
    last = start - timedelta(days=1)
    for day in days(start, date(2026, 12, 31)):
        daily += due(items, RULES, last, day)
        last = day
    keys = Counter(r.key for r in daily)
    assert max(keys.values()) == 1
    once = due(items, RULES, start - timedelta(days=1), date(2026, 12, 31))
    assert [r.key for r in once] == [r.key for r in daily]
    assert len(once) == 6 + 3  # five expiry days (two audiences on the last) and three submission days


def test_a_skipped_week_is_caught_up_in_one_run() -> None:
    got = due([CERT], RULES, date(2026, 6, 20), date(2026, 7, 1))
    assert [r.rule.id for r in got] == ["cert-expiry-7", "cert-expiry+0"]
    assert [r.send_on for r in got] == [date(2026, 6, 23), date(2026, 6, 30)]


def test_a_run_for_a_day_already_covered_sends_nothing() -> None:
    assert due([CERT], RULES, date(2026, 6, 30), date(2026, 6, 30)) == []
    assert due([CERT], RULES, date(2026, 7, 1), date(2026, 6, 30)) == []


def test_first_run_looks_back_a_week_only() -> None:
    assert window(None, date(2026, 7, 1)) == (
        date(2026, 7, 1) - timedelta(days=FIRST_RUN_LOOKBACK_DAYS),
        date(2026, 7, 1),
    )
    assert [r.rule.id for r in due([CERT], RULES, None, date(2026, 7, 1))] == ["cert-expiry+0"]


def test_done_items_are_never_reminded() -> None:
    renewed = Item(CERTIFICATE_EXPIRY, "c1", EXPIRY, "x", "/", "s1", done=True)
    assert due([renewed], RULES, None, date(2026, 6, 30)) == []


def test_keys_are_rule_object_and_due_date() -> None:
    (reminder,) = due([CERT], RULES, date(2026, 6, 29), date(2026, 6, 30))
    assert reminder.key == "cert-expiry+0:c1:2026-06-30"
    assert reminder.text == "The Cyber Essentials Plus certificate of Northwind expires today (2026-06-30)"
    keys = [r.key for r in due([CERT], RULES, date(2026, 1, 1), date(2026, 12, 31))]
    assert len(keys) == len(set(keys))


def test_rule_ids_are_unique() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))


def deadline(kind: str, due_on: date, state: str = "due", party: str = "supplier") -> Deadline:
    return Deadline(
        kind=kind,
        subject=f"{kind} for PR 1",
        due_on=due_on,
        rule="r",
        clause="c",
        state=state,  # type: ignore[arg-type]
        engagement_id="e1",
        party=party,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("kind", "party", "expected"),
    [
        (
            "plan_due",
            "supplier",
            {
                ("plan_due-5", "supplier"),
                ("plan_due-1", "supplier"),
                ("plan_due+0", "supplier"),
                ("plan_due-escalated", "buyer"),
            },
        ),
        (
            "revision_due",
            "supplier",
            {
                ("revision_due-5", "supplier"),
                ("revision_due-1", "supplier"),
                ("revision_due+0", "supplier"),
                ("revision_due-escalated", "buyer"),
            },
        ),
        (
            "register_entry_due",
            "supplier",
            {
                ("register_entry_due-5", "supplier"),
                ("register_entry_due-1", "supplier"),
                ("register_entry_due+0", "supplier"),
                ("register_entry_due-escalated", "buyer"),
            },
        ),
        (
            "decision_due",
            "buyer",
            {
                ("decision_due-5", "buyer"),
                ("decision_due-1", "buyer"),
                ("decision_due+0", "buyer"),
                ("decision_due-escalated", "buyer"),
            },
        ),
        (
            "annual_review_due",
            "supplier",
            {
                ("annual-review-30", "supplier"),
                ("annual-review-7", "supplier"),
                ("annual-review+0", "supplier"),
            },
        ),
    ],
)
def test_workflow_deadlines(kind: str, party: str, expected: set[tuple[str, str]]) -> None:
    item = from_deadline(
        deadline(kind, date(2026, 9, 10), party=party), supplier_org_id="s1", link="/engagements/e1"
    )
    got = due([item], RULES, date(2026, 7, 1), date(2026, 10, 1))
    assert {(r.rule.id, r.rule.audience) for r in got} == expected
    escalations = [r for r in got if r.rule.category == "escalation"]
    assert all(r.send_on == date(2026, 9, 11) for r in escalations)


def test_met_deadlines_are_not_reminded_or_escalated() -> None:
    item = from_deadline(deadline("plan_due", date(2026, 9, 10), state="met"), supplier_org_id="s1", link="/")
    assert due([item], RULES, date(2026, 7, 1), date(2026, 10, 1)) == []


def test_deadline_kinds_of_one_engagement_have_distinct_keys() -> None:
    a = from_deadline(deadline("plan_due", date(2026, 9, 10)), supplier_org_id="s1", link="/")
    b = from_deadline(deadline("register_update_due", date(2026, 9, 10)), supplier_org_id="s1", link="/")
    assert a.object_id != b.object_id


@pytest.mark.parametrize(
    ("effective", "start", "end", "expected"),
    [
        (
            date(2024, 7, 30),
            date(2024, 1, 1),
            date(2027, 12, 31),
            [date(2025, 7, 30), date(2026, 7, 30), date(2027, 7, 30)],
        ),
        (date(2024, 7, 30), date(2026, 7, 31), date(2027, 7, 29), []),
        (
            date(2024, 2, 29),
            date(2025, 1, 1),
            date(2028, 12, 31),
            [date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29)],
        ),
    ],
)
def test_anniversaries(effective: date, start: date, end: date, expected: list[date]) -> None:
    assert anniversaries(effective, start, end) == expected
