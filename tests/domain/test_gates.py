# ruff: noqa: E501 - the tables read best one case per line
"""Preconditions for processing buyer data, per contract (app.domain.gates), against the seeds.

Each table row quotes the clause that creates the precondition (seed 001 Schedule 2.4, seed 000
CPS Security Policy Annex 1, seed 002 Call Off Schedule 7)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.adapters.catalogue_files import cached_library
from app.domain import gates
from app.domain.catalogue import Criticality
from app.domain.certificates import Held, Holder, Scheme, Tier
from app.domain.gates import Effect, Facts, Kind, assess, binds, controls_for_certificate, preconditions
from app.domain.readiness import RegisterCheck

CONTROLS = Path(__file__).resolve().parents[2] / "controls"
SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
TODAY = date(2026, 3, 10)
FINE = date(2027, 1, 1)
CE, CEP, ISO, ITHC = (
    Scheme.CYBER_ESSENTIALS,
    Scheme.CYBER_ESSENTIALS_PLUS,
    Scheme.ISO27001,
    Scheme.IT_HEALTH_CHECK,
)
S24, CO7, CPS = "schedule-2-4", "call-off-schedule-7", "cps-security-policy"

# (clause, what the seed says, effect, whose, schemes, gate controls standing for it)
SCHEDULE_2_4_TABLE = [
    (
        "Schedule 2.4 para 6.1(a)",
        "ISO/IEC 27001:2017 by a United Kingdom Accreditation Service- approved certification body",
        Effect.BEFORE_DATA,
        Tier.SUPPLIER,
        (ISO,),
        ("S24-6.1",),
    ),
    (
        "Schedule 2.4 para 6.1(b)",
        "Cyber Essentials PLUS and shall provide the Authority with a copy of each such certificate of compliance before the Supplier shall be permitted to receive, store or Process Authority Data",
        Effect.BEFORE_DATA,
        Tier.SUPPLIER,
        (CEP,),
        ("S24-6.1",),
    ),
    (
        "Schedule 2.4 para 6.2",
        "before the Higher-Risk Sub-contractor shall be permitted to receive, store or Process Authority Data",
        Effect.BEFORE_DATA,
        Tier.HIGHER_RISK,
        (ISO, CEP),
        ("S24-6.2",),
    ),
    (
        "Schedule 2.4 para 6.3",
        "each Medium Risk Sub-contractor is certified compliant with at least Cyber Essentials.",
        Effect.STANDING,
        Tier.MEDIUM_RISK,
        (CE, CEP),
        (),
    ),
    (
        "Schedule 2.4 para 4.2(a)",
        "IT Health Check of the Supplier System by a CHECK Service Provider or a CREST Service Provider",
        Effect.BEFORE_DATA,
        Tier.SUPPLIER,
        (ITHC,),
        ("S24-4.2",),
    ),
    (
        "Schedule 2.4 para 4.2(b)",
        "Authority has issued the Supplier with an Information Security Approval Statement",
        Effect.BEFORE_DATA,
        None,
        (),
        (),
    ),
    (
        "Schedule 2.4 para 5.5(a)",
        "immediately cease using the Information Management System to Process Authority Data until the Default is remedied, unless directed otherwise by the Authority in writing",
        Effect.CEASE,
        None,
        (),
        (),
    ),
]
CPS_TABLE = [
    (
        "CPS Security Policy 1.5",
        "The CPS have deemed Cyber Essentials Plus will be a requirement for IT contracts",
        Effect.THROUGHOUT,
        Tier.SUPPLIER,
        (CEP,),
        ("CPS-1.5",),
    ),
    (
        "CPS Security Policy 1.6",
        "The Service Provider shall hold Cyber Essentials+ and ISO 27001 certification (or the equivalent certifications) to support the delivery of the Services, at contract award.",
        Effect.THROUGHOUT,
        Tier.SUPPLIER,
        (CEP,),
        ("CPS-1.6",),
    ),
    (
        "CPS Security Policy 1.6",
        "This level of certification must be maintained throughout the duration of the contract.",
        Effect.THROUGHOUT,
        Tier.SUPPLIER,
        (ISO,),
        ("CPS-1.6",),
    ),
]
SEED_OF = {"Schedule 2.4": "001_7d77124de15f7d1c.txt", "CPS Security Policy": "000_e15c6a3b40bf7abb.txt"}


def seed_text(name: str) -> str:
    return " ".join((SEEDS / name).read_text(encoding="utf-8").split())


def row(p: gates.Precondition) -> tuple[object, ...]:
    return (p.clause, p.effect, p.tier, p.schemes, p.controls)


@pytest.mark.parametrize(
    ("profile", "catalogues", "expected"),
    [
        ("Schedule 2.4 alone", [S24], SCHEDULE_2_4_TABLE),
        ("Schedule 2.4 with the CPS Security Policy", [S24, CPS], SCHEDULE_2_4_TABLE + CPS_TABLE),
        ("Call Off Schedule 7 alone", [CO7], []),
        ("Call Off Schedule 7 with the CPS Security Policy", [CO7, CPS], CPS_TABLE),
    ],
)
def test_which_preconditions_apply(profile: str, catalogues: list[str], expected: list[tuple]) -> None:
    profile_id = S24 if profile.startswith("Schedule 2.4") else CO7
    found = preconditions(profile_id, catalogues)
    assert [row(p) for p in found] == [(c, e, t, s, ctl) for c, _quote, e, t, s, ctl in expected]
    for p, (_clause, quote, *_rest) in zip(found, expected, strict=True):
        assert "; " not in p.clause and "," not in p.clause  # one clause per precondition
        seed = SEED_OF["Schedule 2.4" if p.clause.startswith("Schedule 2.4") else "CPS Security Policy"]
        assert p.source == seed
        assert " ".join(quote.split()) in seed_text(seed), (p.clause, quote)  # the quote is the seed's
    if profile_id == CO7:
        assert not any(p.clause.startswith("Schedule 2.4") for p in found)


def test_call_off_schedule_7_bars_nothing_before_approval() -> None:
    """Seed 002: no paragraph of either form makes Approval (or a certificate) a condition for
    processing; the only 'prior to receipt' condition is Annex 1 para 1.1, a catalogue gate."""
    assert gates.PROFILE_PRECONDITIONS[CO7] == ()
    text = seed_text("002_e7f4c131fc912dac.txt")
    assert (
        "prior to receipt of such information the Supplier shall seek additional specific guidance from the Customer"
        in text
    )
    assert gates.GATE_CONTROLS[CO7] == ("CO7-A1-1.1",)


@pytest.mark.parametrize(
    ("catalogue", "profile", "binds_it"),
    [
        (S24, S24, True),
        (S24, CO7, False),  # a Call Off engagement is never blocked by a Schedule 2.4 gate
        (CO7, CO7, True),
        (CO7, S24, False),
        (CPS, S24, True),
        (CPS, CO7, True),
        ("iso27001-2022", CO7, True),
    ],
)
def test_contract_catalogues_bind_their_own_contract_only(
    catalogue: str, profile: str, binds_it: bool
) -> None:
    assert binds(catalogue, profile) is binds_it


def test_the_declared_gate_controls_are_the_catalogues_gates() -> None:
    """gates.GATE_CONTROLS agrees with controls/*.toml, and every control a precondition stands
    behind is one of those gates, in the right catalogue."""
    library = cached_library(str(CONTROLS))
    toml_gates = {
        c.id: c.catalogue_id
        for cat in library.catalogues
        for c in cat.controls
        if c.criticality is Criticality.GATE
    }
    declared = {cid: cat for cat, ids in gates.GATE_CONTROLS.items() for cid in ids}
    assert declared == toml_gates
    for pre in (*gates.SCHEDULE_2_4, *gates.CPS_SECURITY_POLICY):
        for control_id in pre.controls:
            assert control_id in toml_gates, (pre.clause, control_id)
    standing = library.controls["S24-6.3"]
    assert standing.criticality is not Criticality.GATE  # para 6.3 is no precondition


SUPPLIER = Holder("", "Northwind Ltd", Tier.SUPPLIER)
HIGH = Holder("h1", "Harbour Data Ltd", Tier.HIGHER_RISK)
MEDIUM = Holder("m1", "Minster Print Ltd", Tier.MEDIUM_RISK)
OK = (
    Held("", ISO, FINE, number="IS 1", body="BSI"),
    Held("", CEP, FINE, number="CEP-1", body="IASME"),
    Held("", ITHC, None, body="Pen Testers, CREST"),
)

# (case, holders, held, messages of the blockers, messages of the standing shortfalls), Schedule 2.4 alone
CASES = [
    ("supplier with everything", [SUPPLIER], OK, [], []),
    (
        "nothing on record",
        [SUPPLIER],
        (),
        [
            "No current ISO/IEC 27001 certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(a))",
            "No current Cyber Essentials Plus certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(b))",
            "No current IT Health Check by a CHECK or CREST provider on record for Northwind Ltd (Schedule 2.4 para 4.2(a))",
        ],
        [],
    ),
    (
        "expired CE Plus",
        [SUPPLIER],
        (OK[0], Held("", CEP, date(2026, 3, 1)), OK[2]),
        [
            "Cyber Essentials Plus certificate for Northwind Ltd expired on 2026-03-01 (Schedule 2.4 para 6.1(b))"
        ],
        [],
    ),
    ("expired CE Plus renewed", [SUPPLIER], (*OK, Held("", CEP, date(2026, 3, 1))), [], []),
    (
        "CE Plus expiring on the day after still counts",
        [SUPPLIER],
        (OK[0], Held("", CEP, date(2026, 3, 11)), OK[2]),
        [],
        [],
    ),
    (
        "CE Plus expired on its expiry day",
        [SUPPLIER],
        (OK[0], Held("", CEP, TODAY), OK[2]),
        [
            "Cyber Essentials Plus certificate for Northwind Ltd expired on 2026-03-10 (Schedule 2.4 para 6.1(b))"
        ],
        [],
    ),
    (
        "withdrawn ISO",
        [SUPPLIER],
        (Held("", ISO, FINE, withdrawn=True), *OK[1:]),
        ["No current ISO/IEC 27001 certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(a))"],
        [],
    ),
    (
        "basic CE is not Plus",
        [SUPPLIER],
        (OK[0], Held("", CE, FINE), OK[2]),
        [
            "No current Cyber Essentials Plus certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(b))"
        ],
        [],
    ),
    (
        "a sub-contractor's certificate never counts for the supplier",
        [SUPPLIER, HIGH],
        (Held("h1", ISO, FINE), *OK[1:]),
        ["No current ISO/IEC 27001 certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(a))"],
        [],
    ),
    ("higher risk with ISO", [SUPPLIER, HIGH], (*OK, Held("h1", ISO, FINE)), [], []),
    ("higher risk with CE Plus", [SUPPLIER, HIGH], (*OK, Held("h1", CEP, FINE)), [], []),
    (
        "higher risk with basic CE only",
        [SUPPLIER, HIGH],
        (*OK, Held("h1", CE, FINE)),
        [
            "No current ISO/IEC 27001 or Cyber Essentials Plus certificate on record for Harbour Data Ltd (Schedule 2.4 para 6.2)"
        ],
        [],
    ),
    ("medium risk with CE", [SUPPLIER, MEDIUM], (*OK, Held("m1", CE, FINE)), [], []),
    ("medium risk with CE Plus", [SUPPLIER, MEDIUM], (*OK, Held("m1", CEP, FINE)), [], []),
    (
        "medium risk with ISO only: shown, never a blocker",
        [SUPPLIER, MEDIUM],
        (*OK, Held("m1", ISO, FINE)),
        [],
        [
            "No current Cyber Essentials or Cyber Essentials Plus certificate on record for Minster Print Ltd (Schedule 2.4 para 6.3)"
        ],
    ),
    (
        "medium risk expired CE",
        [SUPPLIER, MEDIUM],
        (*OK, Held("m1", CE, date(2026, 2, 1)), Held("m1", CE, date(2025, 2, 1))),
        [],
        [
            "Cyber Essentials or Cyber Essentials Plus certificate for Minster Print Ltd expired on 2026-02-01 (Schedule 2.4 para 6.3)"
        ],
    ),
    (
        "expired IT Health Check",
        [SUPPLIER],
        (*OK[:2], Held("", ITHC, date(2026, 1, 1))),
        [
            "IT Health Check by a CHECK or CREST provider for Northwind Ltd expired on 2026-01-01 (Schedule 2.4 para 4.2(a))"
        ],
        [],
    ),
]


@pytest.mark.parametrize(
    ("name", "holders", "held", "blocking", "standing"), CASES, ids=[c[0] for c in CASES]
)
def test_certificate_preconditions_of_schedule_2_4(
    name: str, holders: list[Holder], held: tuple[Held, ...], blocking: list[str], standing: list[str]
) -> None:
    outcome = assess(preconditions(S24, [S24]), Facts(tuple(holders), held), TODAY)
    assert [o.message for o in outcome.blocking] == blocking
    assert [o.message for o in outcome.standing] == standing


def test_the_same_missing_certificate_under_each_clause_that_asks_for_it() -> None:
    """Schedule 2.4 with the CPS Security Policy: a missing Cyber Essentials Plus is open under
    para 6.1(b), CPS 1.5 and CPS 1.6, one blocker per clause; under Call Off Schedule 7 with the
    CPS only under the CPS clauses."""
    held = (OK[0], OK[2])
    both = assess(preconditions(S24, [CPS]), Facts((SUPPLIER,), held), TODAY)
    assert [o.clause for o in both.blocking if o.precondition.kind is Kind.CERTIFICATE] == [
        "Schedule 2.4 para 6.1(b)",
        "CPS Security Policy 1.5",
        "CPS Security Policy 1.6",
    ]
    call_off = assess(preconditions(CO7, [CPS]), Facts((SUPPLIER,), (), isas_issued=False, overdue=()), TODAY)
    assert [o.message for o in call_off.blocking] == [
        "No current Cyber Essentials Plus certificate on record for Northwind Ltd (CPS Security Policy 1.5)",
        "No current Cyber Essentials Plus certificate on record for Northwind Ltd (CPS Security Policy 1.6)",
        "No current ISO/IEC 27001 certificate on record for Northwind Ltd (CPS Security Policy 1.6)",
    ]  # no ISAS and no IT Health Check: neither is a Call Off Schedule 7 condition
    assert (
        assess(preconditions(CO7, [CO7]), Facts((SUPPLIER,), (), isas_issued=False, overdue=()), TODAY).open
        == ()
    )


def test_isas_and_overdue_register_entries_under_schedule_2_4() -> None:
    facts = Facts((SUPPLIER,), OK, isas_issued=False, overdue=(("Patch the gateway", date(2026, 2, 27)),))
    outcome = assess(preconditions(S24, [S24]), facts, TODAY)
    assert [o.message for o in outcome.blocking] == [
        "No Information Security Approval Statement has been issued for this engagement (Schedule 2.4 para 4.2(b))",
        "Must cease processing buyer data: Patch the gateway was due on 2026-02-27 and is not implemented (Schedule 2.4 para 5.5(a))",
    ]
    issued = assess(preconditions(S24, [S24]), Facts((SUPPLIER,), OK, isas_issued=True, overdue=()), TODAY)
    assert issued.open == ()
    looked_away = assess(preconditions(S24, [S24]), Facts((SUPPLIER,), OK), TODAY)  # the register views
    assert looked_away.open == ()


def test_the_register_meets_the_gate_controls_and_names_the_certificates() -> None:
    outcome = assess(
        preconditions(S24, [S24, CPS]),
        Facts((SUPPLIER, HIGH), (*OK, Held("h1", CEP, FINE, number="H-9", body="IASME"))),
        TODAY,
    )
    assert outcome.check("S24-6.1") == RegisterCheck(
        True,
        "ISO/IEC 27001 IS 1 (BSI), expires 2027-01-01; Cyber Essentials Plus CEP-1 (IASME), expires 2027-01-01",
    )
    assert outcome.check("S24-6.2") == RegisterCheck(
        True, "Harbour Data Ltd: Cyber Essentials Plus H-9 (IASME), expires 2027-01-01"
    )
    assert outcome.check("S24-4.2") == RegisterCheck(True, "IT Health Check (Pen Testers, CREST)")
    assert outcome.check("CPS-1.6") is not None and outcome.check("CPS-1.6").met  # type: ignore[union-attr]
    assert outcome.check("CO7-A1-1.1") is None  # no certificate stands for it: its answer decides
    missing = assess(preconditions(S24, [S24]), Facts((SUPPLIER,), OK[1:]), TODAY)
    assert missing.check("S24-6.1") == RegisterCheck(
        False, "the certificate register does not meet Schedule 2.4 para 6.1(a)"
    )
    no_higher = assess(preconditions(S24, [S24]), Facts((SUPPLIER,), OK), TODAY)
    assert no_higher.check("S24-6.2") is None  # no Higher Risk Sub-contractor listed: the answer decides


def test_blockers_name_the_gate_control_that_stands_for_them() -> None:
    outcome = assess(preconditions(S24, [CPS]), Facts((SUPPLIER,), ()), TODAY)
    blockers = outcome.blockers({"CPS-1.5": CPS, "CPS-1.6": CPS})
    assert [(b.control_id, b.clause, b.kind.value) for b in blockers] == [
        ("", "Schedule 2.4 para 6.1(a)", "certificate"),  # S24-6.1 is not in this engagement
        ("", "Schedule 2.4 para 6.1(b)", "certificate"),
        ("", "Schedule 2.4 para 4.2(a)", "certificate"),
        ("CPS-1.5", "CPS Security Policy 1.5", "certificate"),
        ("CPS-1.6", "CPS Security Policy 1.6", "certificate"),
        ("CPS-1.6", "CPS Security Policy 1.6", "certificate"),
    ]
    assert (
        blockers[0].message
        == "No current ISO/IEC 27001 certificate on record for Northwind Ltd (Schedule 2.4 para 6.1(a))"
    )


@pytest.mark.parametrize(
    ("profile", "catalogues", "tier", "scheme", "controls"),
    [
        (S24, [S24, CPS], Tier.SUPPLIER, CEP, ["S24-6.1", "CPS-1.5", "CPS-1.6"]),
        (S24, [S24, CPS], Tier.SUPPLIER, ISO, ["S24-6.1", "CPS-1.6"]),
        (S24, [S24], Tier.SUPPLIER, ITHC, ["S24-4.2"]),
        (S24, [S24], Tier.HIGHER_RISK, ISO, ["S24-6.2"]),
        (S24, [S24], Tier.MEDIUM_RISK, CE, []),  # para 6.3 has no gate
        (S24, [S24], Tier.SUPPLIER, CE, []),
        (S24, [CPS], Tier.SUPPLIER, CEP, ["CPS-1.5", "CPS-1.6"]),  # S24-6.1 not in scope
        (CO7, [CO7, CPS], Tier.SUPPLIER, CEP, ["CPS-1.5", "CPS-1.6"]),
        (CO7, [CO7, S24], Tier.SUPPLIER, CEP, []),  # Schedule 2.4 gates do not bind a Call Off engagement
    ],
)
def test_where_a_certificate_file_is_linked(
    profile: str, catalogues: list[str], tier: Tier, scheme: Scheme, controls: list[str]
) -> None:
    pairs = controls_for_certificate(profile, catalogues, tier, scheme)
    assert list(dict.fromkeys(c for _, c in pairs)) == controls
