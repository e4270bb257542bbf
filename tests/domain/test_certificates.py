# ruff: noqa: E501 - the tables read best one case per line
"""Certificate entry rules, states and the Certification Requirements of Schedule 2.4 para 6 (which\nof them bind an engagement, and when: tests/domain/test_gates.py)."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.certificates import (
    REQUIREMENTS,
    Entry,
    Held,
    Holder,
    Scheme,
    Tier,
    add_months,
    check_entry,
    default_expiry,
    shortfall,
    state_on,
)

TODAY = date(2026, 3, 10)
CE, CEP, ISO, ITHC = (
    Scheme.CYBER_ESSENTIALS,
    Scheme.CYBER_ESSENTIALS_PLUS,
    Scheme.ISO27001,
    Scheme.IT_HEALTH_CHECK,
)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2025, 11, 15), 3, date(2026, 2, 15)),
        (date(2025, 3, 1), 36, date(2028, 3, 1)),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("scheme", "issued", "expected"),
    [
        (CE, date(2025, 3, 1), date(2026, 3, 1)),
        (CEP, date(2025, 3, 1), date(2026, 3, 1)),
        (ISO, date(2024, 6, 30), date(2027, 6, 30)),
        (ITHC, date(2025, 3, 1), None),
        (Scheme.OTHER, date(2025, 3, 1), None),
    ],
)
def test_default_expiry(scheme: Scheme, issued: date, expected: date | None) -> None:
    assert default_expiry(scheme, issued) == expected


OK = {}
ENTRY_CASES = [
    ("CE with default expiry", Entry(CE, date(2025, 6, 1)), (), OK),
    (
        "CE expiry before issue",
        Entry(CE, date(2025, 6, 1), date(2025, 5, 1)),
        (),
        {"expires_on": "after the issue"},
    ),
    (
        "CE expiry on issue day",
        Entry(CE, date(2025, 6, 1), date(2025, 6, 1)),
        (),
        {"expires_on": "after the issue"},
    ),
    (
        "CE longer than 12 months",
        Entry(CE, date(2025, 6, 1), date(2026, 6, 2)),
        (),
        {"expires_on": "12 months"},
    ),
    ("issued in the future", Entry(CE, date(2026, 3, 11)), (), {"issued_on": "future"}),
    ("CE+ within 3 months of CE", Entry(CEP, date(2025, 8, 20)), (date(2025, 6, 1),), OK),
    ("CE+ on the last day of the window", Entry(CEP, date(2025, 9, 1)), (date(2025, 6, 1),), OK),
    (
        "CE+ after the window",
        Entry(CEP, date(2025, 9, 2)),
        (date(2025, 6, 1),),
        {"issued_on": "within 3 months"},
    ),
    (
        "CE+ before its CE",
        Entry(CEP, date(2025, 5, 1)),
        (date(2025, 6, 1),),
        {"issued_on": "within 3 months"},
    ),
    ("CE+ with no CE on record", Entry(CEP, date(2025, 9, 2)), (), OK),
    (
        "CE+ within the window of an older CE",
        Entry(CEP, date(2025, 7, 1)),
        (date(2024, 6, 1), date(2025, 6, 1)),
        OK,
    ),
    (
        "ISO with audits inside the cycle",
        Entry(ISO, date(2024, 6, 1), None, date(2025, 5, 20), date(2027, 4, 1)),
        (),
        OK,
    ),
    (
        "ISO longer than 3 years",
        Entry(ISO, date(2024, 6, 1), date(2027, 6, 2)),
        (),
        {"expires_on": "3 years"},
    ),
    (
        "ISO surveillance after expiry",
        Entry(ISO, date(2024, 6, 1), None, date(2027, 7, 1)),
        (),
        {"next_surveillance_on": "before the expiry"},
    ),
    (
        "ISO surveillance before issue",
        Entry(ISO, date(2024, 6, 1), None, date(2024, 5, 1)),
        (),
        {"next_surveillance_on": "after the issue"},
    ),
    (
        "ISO recertification after expiry",
        Entry(ISO, date(2024, 6, 1), None, None, date(2027, 6, 2)),
        (),
        {"recertification_on": "no later than the expiry"},
    ),
    (
        "surveillance date on a CE",
        Entry(CE, date(2025, 6, 1), None, date(2025, 9, 1)),
        (),
        {"next_surveillance_on": "ISO"},
    ),
    ("ITHC by CHECK", Entry(ITHC, date(2025, 6, 1), provider="CHECK"), (), OK),
    ("ITHC by CREST", Entry(ITHC, date(2025, 6, 1), provider="CREST"), (), OK),
    ("ITHC with no provider", Entry(ITHC, date(2025, 6, 1)), (), {"provider": "CHECK or a CREST"}),
    (
        "ITHC by anyone else",
        Entry(ITHC, date(2025, 6, 1), provider="ACME"),
        (),
        {"provider": "CHECK or a CREST"},
    ),
    (
        "provider on an ISO certificate",
        Entry(ISO, date(2025, 6, 1), provider="CREST"),
        (),
        {"provider": "IT Health"},
    ),
]


@pytest.mark.parametrize(("name", "entry", "basic", "expected"), ENTRY_CASES, ids=[c[0] for c in ENTRY_CASES])
def test_entry_rules(name: str, entry: Entry, basic: tuple[date, ...], expected: dict[str, str]) -> None:
    problems = check_entry(entry, today=TODAY, basic_ce_issued=basic)
    assert set(problems) == set(expected), problems
    for field, fragment in expected.items():
        assert fragment in problems[field]


@pytest.mark.parametrize(
    ("expires", "withdrawn", "expected"),
    [
        (None, False, "current"),
        (date(2026, 6, 1), False, "current"),
        (date(2026, 4, 10), False, "current"),  # 31 days away
        (date(2026, 4, 9), False, "expiring"),  # 30 days away
        (date(2026, 3, 11), False, "expiring"),
        (date(2026, 3, 10), False, "expired"),  # the expiry day itself
        (date(2025, 1, 1), False, "expired"),
        (date(2027, 1, 1), True, "withdrawn"),
    ],
)
def test_state(expires: date | None, withdrawn: bool, expected: str) -> None:
    assert state_on(expires, TODAY, withdrawn=withdrawn) == expected


def test_the_certification_requirements_are_schedule_2_4_para_6_only() -> None:
    """One clause each; the IT Health Check (para 4.2(a)) is declared in app.domain.gates."""
    assert {tier: [(r.schemes, r.clause) for r in reqs] for tier, reqs in REQUIREMENTS.items()} == {
        Tier.SUPPLIER: [((ISO,), "Schedule 2.4 para 6.1(a)"), ((CEP,), "Schedule 2.4 para 6.1(b)")],
        Tier.HIGHER_RISK: [((ISO, CEP), "Schedule 2.4 para 6.2")],
        Tier.MEDIUM_RISK: [((CE, CEP), "Schedule 2.4 para 6.3")],
    }


def test_shortfall_names_the_holder_and_the_latest_expiry() -> None:
    supplier = Holder("", "Northwind Ltd", Tier.SUPPLIER)
    held = [
        Held("", CEP, date(2026, 1, 1)),
        Held("", CEP, date(2026, 3, 1)),
        Held("h1", CEP, date(2027, 1, 1)),
    ]
    gap = shortfall((CEP,), "Schedule 2.4 para 6.1(b)", supplier, held, TODAY)
    assert gap is not None and gap.message == (
        "Cyber Essentials Plus certificate for Northwind Ltd expired on 2026-03-01 (Schedule 2.4 para 6.1(b))"
    )
    assert (
        shortfall((CEP,), "x", supplier, [Held("", CEP, date(2026, 3, 20))], TODAY) is None
    )  # expiring counts
