"""The contract clock, rule by rule: each table row quotes the clause and checks a date counted
by hand (the count is in the comment), across Christmas, Easter and substitute bank holidays,
for Schedule 2.4 and both forms of Call Off Schedule 7.

Working Days are the England and Wales list of GOV.UK (../shared/reference/uk-working-days.md):
the day counted from is never counted; weekends and the bank holidays below are skipped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.domain import reminders
from app.domain.calendar import ClosureFact, WorkingCalendar, contract_calendar
from app.domain.certificates import Scheme, Tier
from app.domain.deadlines import (
    CertificateFact,
    Deadline,
    DecisionFact,
    EntryFact,
    History,
    LapseFact,
    NoticeFact,
    SubmissionFact,
    compute,
    lapses,
)
from app.domain.variations import Variation, VariationKind
from app.domain.workflow import Profile, profile

ENGLAND_AND_WALES = """
2024-01-01 2024-03-29 2024-04-01 2024-05-06 2024-05-27 2024-08-26 2024-12-25 2024-12-26
2025-01-01 2025-04-18 2025-04-21 2025-05-05 2025-05-26 2025-08-25 2025-12-25 2025-12-26
2026-01-01 2026-04-03 2026-04-06 2026-05-04 2026-05-25 2026-08-31 2026-12-25 2026-12-28
2027-01-01 2027-03-26 2027-03-29 2027-05-03 2027-05-31 2027-08-30 2027-12-27 2027-12-28
2028-01-03 2028-04-14 2028-04-17 2028-05-01 2028-05-29 2028-08-28 2028-12-25 2028-12-26
"""
HOLIDAYS = frozenset(date.fromisoformat(d) for d in ENGLAND_AND_WALES.split())
EW = WorkingCalendar(HOLIDAYS)
D = date.fromisoformat
S24 = profile("schedule-2-4")
CO7_SHORT = profile("call-off-schedule-7", "short")
CO7_LONG = profile("call-off-schedule-7", "long")


def one(deadlines: list[Deadline], kind: str) -> Deadline:
    found = [d for d in deadlines if d.kind == kind]
    assert len(found) == 1, [d.kind for d in deadlines]
    return found[0]


def kinds(deadlines: list[Deadline]) -> set[str]:
    return {d.kind for d in deadlines}


# --- each rule's date, counted by hand ------------------------------------------------------

FIRST_PLAN = [
    # Schedule 2.4 para 4.4 "within thirty (30) Working Days of the Effective Date".
    # 30 July 2024: Aug 1-2 (3: 31 Jul, 1, 2), 5-9 (8), 12-16 (13), 19-23 (18), 26 Summer bank
    # holiday, 27-30 (22), Sep 2-6 (27), 9, 10, 11 (30).
    (S24, "2024-07-30", "2024-09-11", "Schedule 2.4 para 4.4"),
    # Christmas: 2 Dec 2024: Dec 3-6 (4), 9-13 (9), 16-20 (14), 23-24 (16), 25 and 26 bank
    # holidays, 27 (17), 30-31 (19), 1 Jan bank holiday, 2-3 (21), 6-10 (26), 13-16 (30).
    (S24, "2024-12-02", "2025-01-16", "Schedule 2.4 para 4.4"),
    # Easter 2025: 1 Apr: 2-4 (3), 7-11 (8), 14-17 (12), 18 Good Friday, 21 Easter Monday,
    # 22-25 (16), 28-30 (19), May 1-2 (21), 5 Early May bank holiday, 6-9 (25), 12-16 (30).
    (S24, "2025-04-01", "2025-05-16", "Schedule 2.4 para 4.4"),
    # Call Off Schedule 7 short form para 4.3.1 "Within twenty (20) Working Days after the Call
    # Off Commencement Date"; long form para 4.1 the same words. 21 Dec 2026: Dec 22-24 (3),
    # 25 Christmas, 28 Boxing Day substitute, 29-31 (6), 1 Jan 2027, Jan 4-8 (11), 11-15 (16),
    # 18-21 (20).
    (CO7_SHORT, "2026-12-21", "2027-01-21", "Call Off Schedule 7 short form para 4.3.1"),
    (CO7_LONG, "2026-12-21", "2027-01-21", "Call Off Schedule 7 long form para 4.1"),
]


@pytest.mark.parametrize(("prof", "effective", "due", "clause"), FIRST_PLAN)
def test_first_plan(prof: Profile, effective: str, due: str, clause: str) -> None:
    got = one(compute(History("e", D(effective)), prof, EW, today=D(effective)), "plan_due")
    assert (got.due_on, got.clause, got.state, got.party) == (D(due), clause, "due", "supplier")


def test_the_long_form_isms_is_due_20_working_days_after_commencement() -> None:
    # Long form para 3.1 "within twenty (20) working days after the Call Off Commencement Date or
    # such other date as agreed between the Parties", then para 3.6 (amend within 10 Working Days
    # of a notice of non-approval). Same count as the plan: 21 Dec 2026 -> 21 Jan 2027.
    got = compute(History("e", D("2026-12-21")), CO7_LONG, EW, today=D("2027-01-22"))
    isms = one(got, "isms_due")
    assert (isms.due_on, isms.clause, isms.may_vary) == (
        D("2027-01-21"),
        "Call Off Schedule 7 long form para 3.1",
        True,
    )
    assert "para 3.6" in isms.rule and "10 Working Days" in isms.rule
    # Attest records no ISMS submission: shown due, then overdue, never met, and it says so.
    assert isms.state == "overdue" and isms.done_on is None
    assert any("records the day the ISMS was submitted" in n for n in isms.notes)
    # A recorded submission (the History field a future use case fills) meets it.
    met = one(
        compute(
            History("e", D("2026-12-21"), isms_submitted_on=D("2027-01-20")),
            CO7_LONG,
            EW,
            today=D("2027-01-22"),
        ),
        "isms_due",
    )
    assert met.state == "met" and not met.late and not met.notes
    # Neither Schedule 2.4 nor the short form has an ISMS deadline.
    assert "isms_due" not in kinds(
        compute(History("e", D("2026-12-21")), CO7_SHORT, EW, today=D("2027-01-22"))
    )
    assert "isms_due" not in kinds(compute(History("e", D("2026-12-21")), S24, EW, today=D("2027-01-22")))


def test_schedule_2_4_decision_is_a_buyer_deadline_per_submission() -> None:
    # Para 4.5 "within twenty (20) Working Days of receipt". Received Tue 1 Dec 2026: Dec 2-4 (3),
    # 7-11 (8), 14-18 (13), 21-24 (17), 25 Christmas, 28 Boxing Day substitute, 29-31 (20).
    history = History("e", D("2026-11-02"), submissions=(SubmissionFact("s1", 1, 1, D("2026-12-01")),))
    late = one(compute(history, S24, EW, today=D("2027-01-04")), "decision_due")
    assert (late.due_on, late.clause, late.party, late.state) == (
        D("2026-12-31"),
        "Schedule 2.4 para 4.5",
        "buyer",
        "overdue",
    )
    assert not late.may_vary  # para 4.5 leaves no other timescale to agree


def test_schedule_2_4_revision_across_two_christmas_substitutes_and_new_year() -> None:
    # Para 4.6 "within ten (10) Working Days or such other timescale as agreed". Rejected Mon
    # 20 Dec 2027: Dec 21-24 (4), 27 and 28 Christmas and Boxing Day substitutes, 29-31 (7),
    # 3 Jan 2028 New Year substitute, 4-6 (10).
    history = History(
        "e",
        D("2027-10-01"),
        submissions=(SubmissionFact("s1", 1, 1, D("2027-12-01")),),
        decisions=(DecisionFact("s1", D("2027-12-20"), False),),
    )
    revision = one(compute(history, S24, EW, today=D("2027-12-20")), "revision_due")
    assert (revision.due_on, revision.clause, revision.may_vary) == (
        D("2028-01-06"),
        "Schedule 2.4 para 4.6",
        True,
    )


def test_schedule_2_4_change_notice_and_register_update_across_easter() -> None:
    # Para 5.2 "within two (2) Working Days after becoming aware": aware Thu 13 Apr 2028, 14 Good
    # Friday, 17 Easter Monday, 18 (1), 19 (2). Para 5.3 "Within ten (10) Working Days of such
    # notifying ... or such other timescale as may be agreed": filed 19 Apr: 20-21 (2), 24-28 (7),
    # 1 May Early May bank holiday, 2-4 (10).
    history = History(
        "e", D("2027-10-01"), notices=(NoticeFact("n1", "notice 1 (c)", D("2028-04-13"), D("2028-04-19")),)
    )
    got = compute(history, S24, EW, today=D("2028-04-19"))
    notice, update = one(got, "change_notice_due"), one(got, "register_update_due")
    assert (notice.due_on, notice.clause, notice.state, notice.late) == (
        D("2028-04-19"),
        "Schedule 2.4 para 5.2",
        "met",
        False,
    )
    assert (update.due_on, update.clause, update.may_vary) == (D("2028-05-04"), "Schedule 2.4 para 5.3", True)


def test_annual_review_is_due_on_the_last_day_of_each_contract_year() -> None:
    # Schedule 2.4 para 5.1 "at least once each Contract Year"; Call Off Schedule 7 short form
    # 4.4.1 / long form 5.1 "at least annually". Contract Year read as 12 months from the
    # effective date: effective 30 July 2024, year 1 ends 29 July 2025.
    for prof, clause in (
        (S24, "Schedule 2.4 para 5.1"),
        (CO7_SHORT, "Call Off Schedule 7 short form para 4.4.1"),
        (CO7_LONG, "Call Off Schedule 7 long form para 5.1"),
    ):
        review = [
            d
            for d in compute(History("e", D("2024-07-30")), prof, EW, today=D("2025-01-01"))
            if d.kind == "annual_review_due"
        ]
        assert [(d.due_on, d.clause) for d in review] == [(D("2025-07-29"), clause)]


# --- Call Off Schedule 7: the approval period is a shared target ---------------------------

# The review's example: first submission Tue 1 Dec 2026, rejection Fri 18 Dec, resubmission
# Tue 5 Jan 2027.
# Target (short form 4.3.2 / long form 4.3 "all reasonable endeavours ... no longer than fifteen
# (15) Working Days ... from the date of its first submission"): Dec 2-4 (3), 7-11 (8), 14-18 (13),
# 21 (14), 22 (15) -> 22 Dec 2026.
# Revision (short form 4.3.2 / long form 4.3 "amend it within ten (10) Working Days ... of a
# notice of non-approval"): Dec 21-24 (4), 25 Christmas, 28 Boxing Day substitute, 29-31 (7),
# 1 Jan 2027, Jan 4 (8), 5 (9), 6 (10) -> 6 Jan 2027.
RESUBMITTED = History(
    "e",
    D("2026-11-16"),
    submissions=(SubmissionFact("s1", 1, 1, D("2026-12-01")), SubmissionFact("s2", 2, 1, D("2027-01-05"))),
    decisions=(DecisionFact("s1", D("2026-12-18"), False),),
)


@pytest.mark.parametrize(
    ("prof", "target_clause", "revision_clause", "revision_varies"),
    [
        (
            CO7_SHORT,
            "Call Off Schedule 7 short form para 4.3.2",
            "Call Off Schedule 7 short form para 4.3.2",
            True,
        ),
        (CO7_LONG, "Call Off Schedule 7 long form para 4.3", "Call Off Schedule 7 long form para 4.3", False),
    ],
)
def test_a_resubmission_within_10_working_days_is_never_overdue_on_arrival(
    prof: Profile, target_clause: str, revision_clause: str, revision_varies: bool
) -> None:
    got = compute(RESUBMITTED, prof, EW, today=D("2027-01-05"))
    assert "decision_due" not in kinds(got)  # no buyer deadline under Call Off Schedule 7
    target = one(got, "approval_target")
    assert (target.due_on, target.clause, target.party, target.target, target.cycle) == (
        D("2026-12-22"),
        target_clause,
        "joint",
        True,
        1,
    )
    assert target.state == "passed" and target.may_vary  # a target, "or such other period"
    revision = one(got, "revision_due")
    assert (revision.due_on, revision.clause, revision.state, revision.late) == (
        D("2027-01-06"),
        revision_clause,
        "met",
        False,
    )
    assert revision.may_vary is revision_varies  # long form 4.3 allows no other period
    assert not [d for d in got if d.state == "overdue" and d.kind != "isms_due"]


def test_the_target_is_met_by_the_approval_in_its_cycle_and_each_cycle_has_its_own() -> None:
    history = History(
        "e",
        D("2026-11-16"),
        submissions=(
            SubmissionFact("s1", 1, 1, D("2026-12-01")),
            SubmissionFact("s2", 2, 1, D("2027-01-05")),
            SubmissionFact("s3", 3, 2, D("2027-11-01")),  # the annual review starts cycle 2
        ),
        decisions=(DecisionFact("s1", D("2026-12-18"), False), DecisionFact("s2", D("2027-01-08"), True)),
    )
    targets = [
        d for d in compute(history, CO7_SHORT, EW, today=D("2027-11-02")) if d.kind == "approval_target"
    ]
    # Cycle 2 from Mon 1 Nov 2027: Nov 2-5 (4), 8-12 (9), 15-19 (14), 22 (15).
    assert [(d.cycle, d.due_on, d.state, d.done_on, d.late) for d in targets] == [
        (1, D("2026-12-22"), "met", D("2027-01-08"), True),
        (2, D("2027-11-22"), "due", None, False),
    ]


# --- Working Days: closure days are information unless the parties agreed a calendar -------


def calendar_variation() -> Variation:
    return Variation(
        "v-cal",
        VariationKind.CALENDAR,
        "Letter of 1 Aug",
        D("2024-08-01"),
        "Ada",
        datetime(2024, 8, 1, tzinfo=UTC),
    )


def test_a_closure_day_moves_no_deadline_but_is_shown_beside_it() -> None:
    # Call Off Schedule 7 definition: a Working Day is any day but a weekend "or public holiday in
    # England and Wales unless specified otherwise by Parties". Commencement Thu 1 Aug 2024: the
    # review's example, 20 Working Days: Aug 2 (1), 5-9 (6), 12-16 (11), 19-23 (16), 26 Summer
    # bank holiday, 27-30 (20) -> Fri 30 Aug. With the buyer's closure day on Thu 15 Aug
    # counted, it would be Mon 2 Sep (the review's defect).
    closed = (ClosureFact(D("2024-08-15"), "Office move"),)
    history = History("e", D("2024-08-01"))
    plain = contract_calendar(HOLIDAYS, closed, closures_agreed=False)
    plan = one(compute(history, CO7_SHORT, plain, today=D("2024-08-01"), closures=closed), "plan_due")
    assert plan.due_on == D("2024-08-30")
    assert plan.notes == (
        "The buyer's office is closed on Thursday 15 August 2024 (Office move). For information only:"
        " a closure day declared by one party does not move this date.",
    )
    agreed = contract_calendar(HOLIDAYS, closed, closures_agreed=True)
    moved = one(
        compute(
            history,
            CO7_SHORT,
            agreed,
            today=D("2024-08-01"),
            closures=closed,
            variations=(calendar_variation(),),
        ),
        "plan_due",
    )
    assert moved.due_on == D("2024-09-02")
    assert "not a Working Day in this engagement, as the parties agreed (Letter of 1 Aug)" in moved.notes[0]


def test_a_closure_day_outside_the_count_is_not_mentioned() -> None:
    closed = (ClosureFact(D("2024-09-13"), "Training"),)
    plan = one(
        compute(History("e", D("2024-08-01")), CO7_SHORT, EW, today=D("2024-08-01"), closures=closed),
        "plan_due",
    )
    assert plan.notes == ()


# --- agreed variations ---------------------------------------------------------------------

MAY_VARY = [
    # (profile, kind, may vary?) from each clause's own words
    (S24, "plan_due", False),  # 4.4: "within thirty (30) Working Days of the Effective Date"
    (S24, "decision_due", False),  # 4.5: "in any event within twenty (20) Working Days"
    (S24, "revision_due", True),  # 4.6: "or such other timescale as agreed with the Authority"
    (S24, "change_notice_due", False),  # 5.2: "within two (2) Working Days after becoming aware"
    (S24, "register_update_due", True),  # 5.3: "or such other timescale as may be agreed"
    (CO7_SHORT, "plan_due", True),  # 4.3.1: "(or such other period agreed by the Parties in writing)"
    (CO7_SHORT, "revision_due", True),  # 4.3.2: "or such other period as the Parties may agree"
    (CO7_SHORT, "approval_target", True),  # 4.3.2: "(or such other period as the parties may agree)"
    (CO7_LONG, "plan_due", False),  # 4.1: "Within twenty (20) Working Days after ..." only
    (CO7_LONG, "revision_due", False),  # 4.3: "within ten (10) Working Days of a notice of non-approval"
    (CO7_LONG, "approval_target", True),  # 4.3: "(or such other period as the Parties may agree in writing)"
    (CO7_LONG, "isms_due", True),  # 3.1: "or such other date as agreed between the Parties"
]
EVERYTHING = History(
    "e",
    D("2024-07-30"),
    submissions=(SubmissionFact("s1", 1, 1, D("2024-09-02")),),
    decisions=(DecisionFact("s1", D("2024-09-10"), False),),
    notices=(NoticeFact("n1", "notice 1 (b)", D("2024-09-20"), D("2024-09-23")),),
)


@pytest.mark.parametrize(("prof", "kind", "varies"), MAY_VARY)
def test_only_clauses_that_allow_another_timescale_may_vary(prof: Profile, kind: str, varies: bool) -> None:
    assert one(compute(EVERYTHING, prof, EW, today=D("2024-10-01")), kind).may_vary is varies


def test_an_agreed_date_replaces_the_rules_date_and_keeps_the_rule() -> None:
    # Para 4.6: rejected Tue 10 Sep 2024 -> Sep 11-13 (3), 16-20 (8), 23, 24 (10): 24 Sep; agreed 4 Oct.
    agreed = Variation(
        "v1",
        VariationKind.DEADLINE,
        "Minute 12",
        D("2024-09-12"),
        "Ada Advisor",
        datetime(2024, 9, 12, 9, tzinfo=UTC),
        deadline_kind="revision_due",
        object_id="s1",
        due_on=D("2024-10-04"),
    )
    got = one(compute(EVERYTHING, S24, EW, today=D("2024-10-01"), variations=(agreed,)), "revision_due")
    assert (got.due_on, got.rule_due_on, got.state, got.variation) == (
        D("2024-10-04"),
        D("2024-09-24"),
        "due",
        agreed,
    )
    assert (
        got.rule == "Within 10 Working Days of the rejection notice" and got.clause == "Schedule 2.4 para 4.6"
    )
    body = got.to_dict()["variation"]
    assert body["reference"] == "Minute 12" and body["original_due_on"] == "2024-09-24"
    assert body["recorded_by"] == "Ada Advisor" and body["due_on"] == "2024-10-04"
    # The same variation on a deadline whose clause allows none changes nothing.
    plan_variation = Variation(
        "v2",
        VariationKind.DEADLINE,
        "x",
        D("2024-08-01"),
        "Ada",
        datetime(2024, 8, 1, tzinfo=UTC),
        deadline_kind="plan_due",
        due_on=D("2024-12-31"),
    )
    plan = one(compute(EVERYTHING, S24, EW, today=D("2024-10-01"), variations=(plan_variation,)), "plan_due")
    assert plan.due_on == D("2024-09-11") and plan.variation is None


def test_a_written_direction_keeps_the_entry_overdue_without_the_cease_processing_consequence() -> None:
    # Para 5.5(a): "immediately cease using the Information Management System to Process
    # Authority Data ... unless directed otherwise by the Authority in writing".
    history = History(
        "e", D("2024-07-30"), entries=(EntryFact("r1", "Patch gateway", D("2025-01-31"), None),)
    )
    direction = Variation(
        "v3",
        VariationKind.DIRECTION,
        "Letter 7",
        D("2025-02-03"),
        "Ada",
        datetime(2025, 2, 3, tzinfo=UTC),
        deadline_kind="register_entry_due",
        object_id="r1",
    )
    plain = one(compute(history, S24, EW, today=D("2025-02-03")), "register_entry_due")
    directed = one(
        compute(history, S24, EW, today=D("2025-02-03"), variations=(direction,)), "register_entry_due"
    )
    assert plain.state == directed.state == "overdue" and plain.clause == "Schedule 2.4 para 5.5"
    assert not plain.direction and directed.direction and directed.variation == direction
    assert directed.to_dict()["variation"]["kind"] == "direction"


# --- Schedule 2.4 para 6.6: loss of certification ------------------------------------------


def cert(
    cid: str,
    scheme: Scheme,
    issued: str,
    expires: str | None,
    *,
    holder: str = "",
    tier: Tier = Tier.SUPPLIER,
    withdrawn: str | None = None,
) -> CertificateFact:
    return CertificateFact(
        cid,
        holder,
        holder or "Northwind Ltd",
        tier,
        scheme,
        D(issued),
        D(expires) if expires else None,
        D(withdrawn) if withdrawn else None,
    )


CEP = Scheme.CYBER_ESSENTIALS_PLUS
LAPSES = [
    (
        "expired, no successor",
        [cert("c1", CEP, "2025-12-24", "2026-12-24")],
        [("c1", "2026-12-24", "expired", "Schedule 2.4 para 6.1(b)")],
    ),
    (
        "renewed before expiry",
        [cert("c1", CEP, "2025-12-24", "2026-12-24"), cert("c2", CEP, "2026-12-01", "2027-12-01")],
        [],
    ),
    (
        "renewed after a gap",
        [cert("c1", CEP, "2025-12-24", "2026-12-24"), cert("c2", CEP, "2027-01-04", "2028-01-04")],
        [("c1", "2026-12-24", "expired", "Schedule 2.4 para 6.1(b)")],
    ),
    (
        "withdrawn early",
        [cert("c1", CEP, "2025-12-24", "2026-12-24", withdrawn="2026-06-10")],
        [("c1", "2026-06-10", "withdrawn", "Schedule 2.4 para 6.1(b)")],
    ),
    (
        "medium risk: CE expires, CE Plus still current (6.3 'at least Cyber Essentials')",
        [
            cert(
                "c1", Scheme.CYBER_ESSENTIALS, "2025-12-24", "2026-12-24", holder="s1", tier=Tier.MEDIUM_RISK
            ),
            cert("c2", CEP, "2026-03-01", "2027-03-01", holder="s1", tier=Tier.MEDIUM_RISK),
        ],
        [],
    ),
    (
        "higher risk: ISO expires, CE Plus still current (6.2 'either')",
        [
            cert("c1", Scheme.ISO27001, "2023-12-24", "2026-12-24", holder="s1", tier=Tier.HIGHER_RISK),
            cert("c2", CEP, "2026-03-01", "2027-03-01", holder="s1", tier=Tier.HIGHER_RISK),
        ],
        [],
    ),
    (
        "the supplier's ISO expires, CE Plus does not stand in (6.1(a))",
        [
            cert("c1", Scheme.ISO27001, "2023-12-24", "2026-12-24"),
            cert("c2", CEP, "2026-03-01", "2027-03-01"),
        ],
        [("c1", "2026-12-24", "expired", "Schedule 2.4 para 6.1(a)")],
    ),
    ("before the effective date", [cert("c1", CEP, "2023-01-02", "2024-01-02")], []),
    ("not yet", [cert("c1", CEP, "2026-12-28", "2027-12-28")], []),
    (
        "an IT Health Check is no Certification Requirement",
        [cert("c1", Scheme.IT_HEALTH_CHECK, "2025-12-24", "2026-12-24")],
        [],
    ),
]


@pytest.mark.parametrize(("why", "held", "expected"), LAPSES, ids=[row[0] for row in LAPSES])
def test_lapses_from_the_register(
    why: str, held: list[CertificateFact], expected: list[tuple[str, str, str, str]]
) -> None:
    found = lapses(held, since=D("2024-07-30"), today=D("2027-01-04"))
    assert [
        (lapse.certificate_id, lapse.ceased_on.isoformat(), lapse.how, lapse.requirement) for lapse in found
    ] == expected


def test_the_6_6_notice_runs_from_the_day_compliance_ceased_and_opens_no_register_update() -> None:
    # Para 6.6 "within two (2) Working Days, if the Supplier or any Sub-contractor ceases to be
    # compliant": CE Plus expired Thu 24 Dec 2026, 25 Christmas, 28 Boxing Day substitute, 29 (1),
    # 30 (2) -> Wed 30 Dec 2026. Labelled para 6.6, not 5.2; no para 5.3 update.
    lapse = LapseFact("c1", "Northwind Ltd", CEP, "expired", D("2026-12-24"), "Schedule 2.4 para 6.1(b)")
    history = History("e", D("2024-07-30"), lapses=(lapse,))
    notice = one(compute(history, S24, EW, today=D("2026-12-31")), "certification_notice_due")
    assert (notice.due_on, notice.clause, notice.state, notice.object_id) == (
        D("2026-12-30"),
        "Schedule 2.4 para 6.6",
        "overdue",
        "c1",
    )
    assert "6.1(b)" in notice.rule and notice.subject.startswith("Notice of lost certification")
    # A certification notice filed on 29 Dec meets it; it is no para 5.2 event and opens no 5.3 update.
    filed = NoticeFact("n1", "notice 1 (certification)", D("2026-12-24"), D("2026-12-29"), certification=True)
    got = compute(
        History("e", D("2024-07-30"), lapses=(lapse,), notices=(filed,)), S24, EW, today=D("2026-12-31")
    )
    assert [
        (d.kind, d.state, d.late)
        for d in got
        if d.kind.endswith("notice_due") or d.kind == "register_update_due"
    ] == [("certification_notice_due", "met", False)]
    # A notice filed before compliance ceased does not meet it.
    early = NoticeFact("n0", "notice 1 (certification)", D("2026-12-20"), D("2026-12-21"), certification=True)
    before = [
        d
        for d in compute(
            History("e", D("2024-07-30"), lapses=(lapse,), notices=(early,)), S24, EW, today=D("2026-12-31")
        )
        if d.kind == "certification_notice_due"
    ]
    assert sorted((d.object_id, d.state) for d in before) == [("c1", "overdue"), ("n0", "met")]
    # Call Off Schedule 7 has no para 6.6.
    assert "certification_notice_due" not in kinds(compute(history, CO7_LONG, EW, today=D("2026-12-31")))


def test_a_certification_notice_the_register_does_not_know_runs_from_the_date_it_gives() -> None:
    # Aware (ceased) Thu 13 Apr 2028: 14 Good Friday, 17 Easter Monday, 18 (1), 19 (2); filed the 20th: late.
    filed = NoticeFact("n1", "notice 1 (certification)", D("2028-04-13"), D("2028-04-20"), certification=True)
    got = one(
        compute(History("e", D("2027-10-01"), notices=(filed,)), S24, EW, today=D("2028-04-20")),
        "certification_notice_due",
    )
    assert (got.due_on, got.clause, got.state, got.late) == (
        D("2028-04-19"),
        "Schedule 2.4 para 6.6",
        "met",
        True,
    )


# --- reminders follow the new kinds --------------------------------------------------------


def rules_of(kind: str) -> set[tuple[str, int, str]]:
    return {(r.category, r.offset_days, r.audience) for r in reminders.RULES if r.item_kind == kind}


def test_reminders_chase_the_new_deadlines_and_never_escalate_a_target() -> None:
    assert rules_of("certification_notice_due") == {
        ("workflow_deadline", -1, "supplier"),
        ("workflow_deadline", 0, "supplier"),
        ("escalation", 1, "buyer"),
    }
    assert rules_of("approval_target") == {
        (category, offset, audience)
        for category in ("workflow_deadline",)
        for offset in (-5, -1, 0)
        for audience in ("supplier", "buyer")
    }
    assert rules_of("isms_due") == {("workflow_deadline", d, "supplier") for d in (-5, -1, 0)}
    assert rules_of("decision_due") >= {("escalation", 1, "buyer")}
