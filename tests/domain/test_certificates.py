# ruff: noqa: E501 - the tables read best one case per line
"""Certificate entry rules, states and the certification gates (Schedule 2.4 para 6, CPS 1.5/1.6)."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.certificates import (
    Entry,
    Held,
    Holder,
    Scheme,
    Tier,
    add_months,
    check_entry,
    default_expiry,
    gates,
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


SUPPLIER = Holder("", "Northwind Ltd", Tier.SUPPLIER)
HIGH = Holder("h1", "Harbour Data Ltd", Tier.HIGHER_RISK)
MEDIUM = Holder("m1", "Minster Print Ltd", Tier.MEDIUM_RISK)
FINE = date(2027, 1, 1)
SUPPLIER_OK = [Held("", ISO, FINE), Held("", CEP, FINE), Held("", ITHC, None)]

GATE_CASES = [
    ("supplier with everything", [SUPPLIER], SUPPLIER_OK, []),
    (
        "nothing on record",
        [SUPPLIER],
        [],
        [
            "No current ISO/IEC 27001 certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(a); CPS Security Policy 1.6)",
            "No current Cyber Essentials Plus certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(b); CPS Security Policy 1.5, 1.6)",
            "No current IT Health Check by a CHECK or CREST provider on record for Northwind Ltd (Schedule 2.4 paras 4.2(a), 7.1)",
        ],
    ),
    (
        "expired CE Plus",
        [SUPPLIER],
        [Held("", ISO, FINE), Held("", CEP, date(2026, 3, 1)), Held("", ITHC, None)],
        [
            "Cyber Essentials Plus certificate for Northwind Ltd expired on 2026-03-01 (Schedule 2.4 para 6.1(b); CPS Security Policy 1.5, 1.6)"
        ],
    ),
    (
        "expired CE Plus renewed",
        [SUPPLIER],
        [*SUPPLIER_OK, Held("", CEP, date(2026, 3, 1))],
        [],
    ),
    (
        "withdrawn ISO",
        [SUPPLIER],
        [Held("", ISO, FINE, withdrawn=True), Held("", CEP, FINE), Held("", ITHC, None)],
        [
            "No current ISO/IEC 27001 certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(a); CPS Security Policy 1.6)"
        ],
    ),
    (
        "basic CE does not satisfy the supplier gate",
        [SUPPLIER],
        [Held("", ISO, FINE), Held("", CE, FINE), Held("", ITHC, None)],
        ["Cyber Essentials Plus"],
    ),
    ("higher risk with ISO", [SUPPLIER, HIGH], [*SUPPLIER_OK, Held("h1", ISO, FINE)], []),
    ("higher risk with CE Plus", [SUPPLIER, HIGH], [*SUPPLIER_OK, Held("h1", CEP, FINE)], []),
    (
        "higher risk with basic CE only",
        [SUPPLIER, HIGH],
        [*SUPPLIER_OK, Held("h1", CE, FINE)],
        [
            "No current ISO/IEC 27001 or Cyber Essentials Plus certificate on record for Harbour Data Ltd (Schedule 2.4 para 6.2)"
        ],
    ),
    ("medium risk with CE", [SUPPLIER, MEDIUM], [*SUPPLIER_OK, Held("m1", CE, FINE)], []),
    ("medium risk with CE Plus", [SUPPLIER, MEDIUM], [*SUPPLIER_OK, Held("m1", CEP, FINE)], []),
    (
        "medium risk with ISO only",
        [SUPPLIER, MEDIUM],
        [*SUPPLIER_OK, Held("m1", ISO, FINE)],
        [
            "No current Cyber Essentials or Cyber Essentials Plus certificate on record for Minster Print Ltd (Schedule 2.4 para 6.3)"
        ],
    ),
    (
        "medium risk expired CE",
        [SUPPLIER, MEDIUM],
        [*SUPPLIER_OK, Held("m1", CE, date(2026, 2, 1)), Held("m1", CE, date(2025, 2, 1))],
        [
            "Cyber Essentials or Cyber Essentials Plus certificate for Minster Print Ltd expired on 2026-02-01 (Schedule 2.4 para 6.3)"
        ],
    ),
    (
        "a sub-contractor's certificate never counts for the supplier",
        [SUPPLIER],
        [Held("h1", ISO, FINE), Held("", CEP, FINE), Held("", ITHC, None)],
        ["ISO/IEC 27001"],
    ),
    (
        "expired IT Health Check",
        [SUPPLIER],
        [Held("", ISO, FINE), Held("", CEP, FINE), Held("", ITHC, date(2026, 1, 1))],
        ["IT Health Check by a CHECK or CREST provider for Northwind Ltd expired on 2026-01-01"],
    ),
]


@pytest.mark.parametrize(("name", "holders", "held", "expected"), GATE_CASES, ids=[c[0] for c in GATE_CASES])
def test_gates(name: str, holders: list[Holder], held: list[Held], expected: list[str]) -> None:
    messages = [b.message for b in gates(holders, held, TODAY)]
    assert len(messages) == len(expected), messages
    for message, fragment in zip(messages, expected, strict=True):
        assert fragment in message


def test_expiring_certificates_still_meet_the_gate() -> None:
    held = [Held("", ISO, date(2026, 3, 20)), Held("", CEP, date(2026, 3, 11)), Held("", ITHC, None)]
    assert gates([SUPPLIER], held, TODAY) == []
    assert len(gates([SUPPLIER], held, date(2026, 3, 11))) == 1  # CE+ expired on its expiry day
