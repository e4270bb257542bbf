"""Deadline rules: a table of histories and the deadlines they produce."""

from __future__ import annotations

from datetime import date

from app.domain.calendar import WorkingCalendar
from app.domain.deadlines import (
    DecisionFact,
    EntryFact,
    History,
    NoticeFact,
    SubmissionFact,
    compute,
    contract_years,
)
from app.domain.workflow import profile

SUMMER_2024 = WorkingCalendar.of([date(2024, 8, 26), date(2024, 12, 25), date(2024, 12, 26)])
D = date.fromisoformat


def kinds(deadlines: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for d in deadlines:
        out.setdefault(d.kind, []).append(d)
    return out


def test_nothing_submitted_yet() -> None:
    history = History("e", D("2024-07-30"))
    before = kinds(compute(history, profile("schedule-2-4"), SUMMER_2024, today=D("2024-09-11")))
    after = kinds(compute(history, profile("schedule-2-4"), SUMMER_2024, today=D("2024-09-12")))
    assert before["plan_due"][0].due_on == D("2024-09-11") and before["plan_due"][0].state == "due"
    assert after["plan_due"][0].state == "overdue"
    assert before["plan_due"][0].rule == "Within 30 Working Days of the Effective Date"


def test_rejection_then_late_revision_then_decision() -> None:
    history = History(
        "e",
        D("2024-07-30"),
        submissions=(
            SubmissionFact("s1", 1, 1, D("2024-09-10")),
            SubmissionFact("s2", 2, 1, D("2024-10-10")),
        ),
        decisions=(DecisionFact("s1", D("2024-09-20"), False),),
    )
    got = kinds(compute(history, profile("schedule-2-4"), SUMMER_2024, today=D("2024-10-11")))
    assert got["plan_due"][0].state == "met" and not got["plan_due"][0].late
    assert [d.due_on for d in got["decision_due"]] == [D("2024-10-08"), D("2024-11-07")]
    assert [d.state for d in got["decision_due"]] == ["met", "due"]
    assert got["revision_due"][0].due_on == D("2024-10-04") and got["revision_due"][0].late
    assert got["decision_due"][1].party == "buyer"


def test_notices_entries_and_contract_years() -> None:
    history = History(
        "e",
        D("2024-07-30"),
        notices=(NoticeFact("n1", "notice 1 (c)", D("2024-12-23"), D("2024-12-30")),),
        entries=(
            EntryFact("r1", "Patch gateway", D("2025-01-31"), None),
            EntryFact("r2", "Done", D("2025-01-10"), D("2025-01-09")),
        ),
    )
    got = kinds(compute(history, profile("schedule-2-4"), SUMMER_2024, today=D("2025-08-01")))
    notice = got["change_notice_due"][0]
    assert notice.due_on == D("2024-12-27") and notice.late and notice.clause == "Schedule 2.4 para 5.2"
    assert got["register_update_due"][0].state == "overdue"
    states = {d.object_id: d.state for d in got["register_entry_due"]}
    assert states == {"r1": "overdue", "r2": "met"}
    assert [d.due_on for d in got["annual_review_due"]] == [D("2025-07-29"), D("2026-07-29")]
    assert got["annual_review_due"][0].state == "overdue"
    # Call Off Schedule 7 has no change notices or register entries with a cease-processing rule
    call_off = kinds(compute(history, profile("call-off-schedule-7"), SUMMER_2024, today=D("2025-08-01")))
    assert "change_notice_due" not in call_off and "register_entry_due" not in call_off


def test_contract_years_handle_leap_days() -> None:
    years = contract_years(D("2024-02-29"), D("2026-03-01"))
    assert [(n, s.isoformat(), e.isoformat()) for n, s, e in years] == [
        (1, "2024-02-29", "2025-02-27"),
        (2, "2025-02-28", "2026-02-27"),
        (3, "2026-02-28", "2027-02-27"),
    ]
