"""Readiness scoring: the rule in app/domain/readiness.py, case by case."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from app.domain.catalogue import Criticality
from app.domain.readiness import (
    CatalogueInfo,
    ControlInput,
    EvidenceItem,
    Readiness,
    Status,
    compute,
)

TODAY = date(2025, 6, 1)
GATE = Criticality.GATE
HIGH = Criticality.HIGH
NORMAL = Criticality.NORMAL
MET = Status.MET
PART = Status.PARTIALLY_MET
NOT_MET = Status.NOT_MET
NA = Status.NOT_APPLICABLE


def ev(evidence_id: str = "E-1", days: int | None = None, title: str = "") -> EvidenceItem:
    """Evidence expiring `days` after TODAY (None: never expires)."""
    expires = None if days is None else TODAY + timedelta(days=days)
    return EvidenceItem(evidence_id, title or f"Evidence {evidence_id}", expires, "document")


def ctl(
    control_id: str = "C-1",
    status: Status | None = MET,
    *,
    evidence: tuple[EvidenceItem, ...] = (),
    required: bool = True,
    criticality: Criticality = NORMAL,
    applicable: bool = True,
    justification: str = "",
    catalogue: str = "CAT",
    section: str = "S1",
) -> ControlInput:
    return ControlInput(
        control_id=control_id,
        catalogue_id=catalogue,
        section_id=section,
        section_title=f"Section {section}",
        title=f"Control {control_id}",
        criticality=criticality,
        evidence_required=required,
        applicable=applicable,
        scoping_reason="" if applicable else "no hosting",
        status=status,
        justification=justification,
        evidence=evidence,
    )


def run(*controls: ControlInput, **kwargs: object) -> Readiness:
    return compute(controls, today=TODAY, **kwargs)  # type: ignore[arg-type]


CURRENT = (ev("E-ok", 100),)
NO_EXPIRY = (ev("E-ok", None),)
EXPIRED = (ev("E-old", -1),)
EXPIRES_TODAY = (ev("E-today", 0),)


@pytest.mark.parametrize(
    ("control", "weight", "credit", "status", "reason_part"),
    [
        pytest.param(ctl(evidence=CURRENT), 1, 1.0, "met", "met", id="met-current-evidence"),
        pytest.param(ctl(evidence=NO_EXPIRY), 1, 1.0, "met", "met", id="met-evidence-never-expires"),
        pytest.param(ctl(evidence=EXPIRES_TODAY), 1, 1.0, "met", "met", id="met-evidence-expires-today"),
        pytest.param(ctl(), 1, 0.5, "met", "no current evidence: half", id="met-no-evidence-halves"),
        pytest.param(
            ctl(evidence=EXPIRED), 1, 0.5, "met", "expired on 2025-05-31: half", id="met-expired-halves"
        ),
        pytest.param(ctl(evidence=(*EXPIRED, *CURRENT)), 1, 1.0, "met", "met", id="one-current-is-enough"),
        pytest.param(ctl(required=False), 1, 1.0, "met", "met", id="met-evidence-not-required"),
        pytest.param(ctl(status=PART, evidence=CURRENT), 1, 0.5, "partially_met", "partially", id="partial"),
        pytest.param(ctl(status=PART), 1, 0.25, "partially_met", "half credit", id="partial-no-evidence"),
        pytest.param(ctl(status=PART, required=False), 1, 0.5, "partially_met", "partially", id="partial-nr"),
        pytest.param(ctl(status=NOT_MET, evidence=CURRENT), 1, 0.0, "not_met", "not met", id="not-met"),
        pytest.param(ctl(status=NOT_MET), 1, 0.0, "not_met", "not met", id="not-met-no-evidence"),
        pytest.param(ctl(status=None), 1, 0.0, "unanswered", "unanswered", id="unanswered"),
        pytest.param(ctl(status=NA, justification="No cloud"), 0, 0.0, "not_applicable", "No cloud", id="na"),
        pytest.param(
            ctl(status=NA, justification="   "),
            1,
            0.0,
            "unanswered",
            "not applicable needs a justification",
            id="na-without-justification",
        ),
        pytest.param(ctl(criticality=HIGH, evidence=CURRENT), 2, 1.0, "met", "met", id="high-met"),
        pytest.param(ctl(criticality=HIGH, status=PART), 2, 0.25, "partially_met", "half", id="high-partial"),
        pytest.param(
            ctl(criticality=HIGH, status=NA), 2, 0.0, "unanswered", "justification", id="high-na-unjustified"
        ),
        pytest.param(ctl(applicable=False, evidence=CURRENT), 0, 0.0, "out_of_scope", "no hosting", id="oos"),
    ],
)
def test_control_scoring(
    control: ControlInput, weight: int, credit: float, status: str, reason_part: str
) -> None:
    result = run(control)
    (score,) = result.controls
    assert (score.weight, score.credit, score.status) == (weight, credit, status)
    assert score.earned == weight * credit
    assert reason_part in score.reason
    assert result.possible == weight
    assert result.earned == weight * credit
    assert result.score == (round(100 * credit, 1) if weight else 0.0)
    assert result.counts[status] == 1
    assert sum(result.counts.values()) == 1
    assert result.blockers == ()


@pytest.mark.parametrize(
    ("control", "blocker_reason"),
    [
        pytest.param(ctl(criticality=GATE, evidence=CURRENT), None, id="met-current"),
        pytest.param(ctl(criticality=GATE, evidence=EXPIRES_TODAY), None, id="met-expires-today"),
        pytest.param(ctl(criticality=GATE, required=False), None, id="met-no-evidence-needed"),
        pytest.param(ctl(criticality=GATE, status=None, evidence=CURRENT), "unanswered", id="unanswered"),
        pytest.param(ctl(criticality=GATE, status=NOT_MET, evidence=CURRENT), "not met", id="not-met"),
        pytest.param(
            ctl(criticality=GATE, status=PART, evidence=CURRENT),
            "partially met (a gate must be met)",
            id="pm",
        ),
        pytest.param(
            ctl(criticality=GATE, status=NA, justification="none"),
            "marked not applicable (a gate must be met)",
            id="na",
        ),
        pytest.param(ctl(criticality=GATE), "met, but no current evidence", id="met-no-evidence"),
        pytest.param(
            ctl(criticality=GATE, evidence=(ev("A", -40), ev("B", -3))),
            "met, but evidence expired on 2025-05-29",
            id="met-expired-names-latest-date",
        ),
        pytest.param(ctl(criticality=GATE, status=None, applicable=False), None, id="out-of-scope"),
    ],
)
def test_gates_block_and_never_score(control: ControlInput, blocker_reason: str | None) -> None:
    result = run(control, ctl("C-2", evidence=CURRENT))
    gate_score = result.controls[0]
    assert (gate_score.weight, gate_score.credit, gate_score.earned) == (0, 0.0, 0.0)
    assert gate_score.gate
    assert (result.possible, result.earned, result.score) == (1, 1.0, 100.0)
    if blocker_reason is None:
        assert result.blockers == ()
        assert not result.blocked
    else:
        (blocker,) = result.blockers
        assert (blocker.control_id, blocker.catalogue_id, blocker.reason) == ("C-1", "CAT", blocker_reason)
        assert blocker.message == f"C-1 Control C-1: {blocker_reason}"
        assert result.blocked


def test_gates_are_counted_by_status() -> None:
    result = run(
        ctl("G-1", criticality=GATE, evidence=CURRENT),
        ctl("G-2", status=None, criticality=GATE),
        ctl("G-3", status=NA, criticality=GATE),
        ctl("G-4", criticality=GATE, applicable=False),
    )
    assert result.counts == {
        "met": 1,
        "partially_met": 0,
        "not_met": 0,
        "not_applicable": 0,
        "unanswered": 2,
        "out_of_scope": 1,
    }
    assert [b.control_id for b in result.blockers] == ["G-2", "G-3"]
    assert (result.possible, result.score) == (0, 0.0)


@pytest.mark.parametrize(
    ("days", "where"),
    [
        pytest.param(None, None, id="no-expiry"),
        pytest.param(31, None, id="31-days-excluded"),
        pytest.param(30, "expiring", id="30-days-included"),
        pytest.param(1, "expiring", id="tomorrow"),
        pytest.param(0, "expiring", id="today-is-current-and-expiring"),
        pytest.param(-1, "expired", id="yesterday-expired"),
    ],
)
def test_expiring_window(days: int | None, where: str | None) -> None:
    result = run(ctl(evidence=(ev("E-1", days),)))
    expiring = [e.evidence_id for e in result.expiring]
    expired = [e.evidence_id for e in result.expired]
    assert expiring == (["E-1"] if where == "expiring" else [])
    assert expired == (["E-1"] if where == "expired" else [])
    for item in (*result.expiring, *result.expired):
        assert item.days_left == days
        assert item.expires_on == TODAY + timedelta(days=days or 0)


def test_expiring_window_is_configurable() -> None:
    result = run(ctl(evidence=(ev("E-1", 45),)), expiring_within_days=60)
    assert [e.days_left for e in result.expiring] == [45]


def test_expiring_lists_each_item_once_with_sorted_controls_and_skips_out_of_scope() -> None:
    shared = ev("E-shared", 10)
    result = run(
        ctl("C-9", evidence=(shared,)),
        ctl("C-2", evidence=(shared, ev("E-soon", 3))),
        ctl("C-5", status=NA, justification="n/a", evidence=(shared,)),
        ctl("C-1", applicable=False, evidence=(shared, ev("E-oos", 2))),
        ctl("C-3", criticality=GATE, evidence=(ev("E-gate", -5), ev("E-gate", -5))),
    )
    assert [(e.evidence_id, e.days_left, e.control_ids) for e in result.expiring] == [
        ("E-soon", 3, ("C-2",)),
        ("E-shared", 10, ("C-2", "C-5", "C-9")),
    ]
    assert [(e.evidence_id, e.days_left, e.control_ids) for e in result.expired] == [
        ("E-gate", -5, ("C-3",)),
    ]


def test_empty_input_scores_zero() -> None:
    result = run()
    assert (result.score, result.earned, result.possible) == (0.0, 0.0, 0)
    assert set(result.counts) == {
        "met",
        "partially_met",
        "not_met",
        "not_applicable",
        "unanswered",
        "out_of_scope",
    }
    assert sum(result.counts.values()) == 0
    assert (result.blockers, result.expiring, result.expired) == ((), (), ())
    assert (result.controls, result.catalogues) == ((), ())
    assert result.to_dict()["catalogues"] == []


def test_only_not_applicable_scores_zero_not_error() -> None:
    result = run(ctl(status=NA, justification="no"), ctl("C-2", applicable=False))
    assert (result.score, result.possible) == (0.0, 0)


def mixed() -> Readiness:
    return run(
        # Hand-computed (weight x credit = earned):
        #   A normal, met, current evidence              1 x 1.0  = 1.0
        #   B high, partially met, current evidence      2 x 0.5  = 1.0
        #   C normal, met, evidence expired -> halved    1 x 0.5  = 0.5
        #   D normal, met, no evidence needed            1 x 1.0  = 1.0
        #   E normal, not met                            1 x 0.0  = 0.0
        #   F normal, N/A with justification             left the denominator
        #   G gate, unanswered                           not scored, a blocker
        #   H out of scope                               not scored
        # earned 3.5 of possible 6 -> 100 x 3.5 / 6 = 58.33 -> 58.3
        ctl("A", evidence=CURRENT, catalogue="ISO", section="S1"),
        ctl("B", status=PART, criticality=HIGH, evidence=CURRENT, catalogue="ISO", section="S2"),
        ctl("C", evidence=EXPIRED, catalogue="ISO", section="S1"),
        ctl("D", required=False, catalogue="S24", section="S1"),
        ctl("E", status=NOT_MET, catalogue="S24", section="S1"),
        ctl("F", status=NA, justification="No buyer data held", catalogue="S24", section="S2"),
        ctl("G", status=None, criticality=GATE, catalogue="S24", section="S3"),
        ctl("H", applicable=False, catalogue="ISO", section="S2"),
        catalogues=(CatalogueInfo("S24", "Schedule 2.4"), CatalogueInfo("ISO", "ISO/IEC 27001")),
    )


def test_hand_computed_mixed_example() -> None:
    result = mixed()
    assert (result.earned, result.possible, result.score) == (3.5, 6, 58.3)
    assert [(c.control_id, c.earned) for c in result.controls] == [
        ("A", 1.0),
        ("B", 1.0),
        ("C", 0.5),
        ("D", 1.0),
        ("E", 0.0),
        ("F", 0.0),
        ("G", 0.0),
        ("H", 0.0),
    ]
    assert result.counts == {
        "met": 3,
        "partially_met": 1,
        "not_met": 1,
        "not_applicable": 1,
        "unanswered": 1,
        "out_of_scope": 1,
    }
    assert [b.control_id for b in result.blockers] == ["G"]
    # ISO: A 1 + B 1 + C 0.5 = 2.5 of 4 -> 62.5; S24: D 1 + E 0 = 1 of 2 -> 50.0
    s24, iso = result.catalogues
    assert (s24.id, s24.title, s24.earned, s24.possible, s24.score) == ("S24", "Schedule 2.4", 1.0, 2, 50.0)
    assert (iso.id, iso.title, iso.earned, iso.possible, iso.score) == ("ISO", "ISO/IEC 27001", 2.5, 4, 62.5)
    assert [(s.id, s.earned, s.possible, s.score) for s in iso.sections] == [
        ("S1", 1.5, 2, 75.0),
        ("S2", 1.0, 2, 50.0),
    ]
    assert [(s.id, s.earned, s.possible, s.score) for s in s24.sections] == [
        ("S1", 1.0, 2, 50.0),
        ("S2", 0.0, 0, 0.0),
        ("S3", 0.0, 0, 0.0),
    ]
    assert result.explain()[-1] == "total: 3.5 of 6 = 58.3%"


def test_breakdowns_sum_to_the_total() -> None:
    result = mixed()
    assert sum(c.earned for c in result.controls) == result.earned
    assert sum(c.weight for c in result.controls) == result.possible
    assert sum(c.earned for c in result.catalogues) == result.earned
    assert sum(c.possible for c in result.catalogues) == result.possible
    for key in result.counts:
        assert sum(c.counts[key] for c in result.catalogues) == result.counts[key]
    for cat in result.catalogues:
        assert sum(s.earned for s in cat.sections) == cat.earned
        assert sum(s.possible for s in cat.sections) == cat.possible
        for key in cat.counts:
            assert sum(s.counts[key] for s in cat.sections) == cat.counts[key]
        own = [c for c in result.controls if c.catalogue_id == cat.id]
        assert sum(c.earned for c in own) == cat.earned


def test_catalogue_order_and_titles() -> None:
    result = run(
        ctl("X-1", catalogue="X", section="B"),
        ctl("Y-1", catalogue="Y"),
        ctl("X-2", catalogue="X", section="A"),
        catalogues=(CatalogueInfo("Z", "Zed"), CatalogueInfo("Y", "Why")),
    )
    assert [(c.id, c.title, c.possible) for c in result.catalogues] == [
        ("Z", "Zed", 0),
        ("Y", "Why", 1),
        ("X", "X", 2),
    ]
    assert [(s.id, s.title) for s in result.catalogues[2].sections] == [
        ("B", "Section B"),
        ("A", "Section A"),
    ]


def test_same_section_id_in_two_catalogues_stays_separate() -> None:
    result = run(
        ctl("A-1", catalogue="A", section="S1"), ctl("B-1", status=None, catalogue="B", section="S1")
    )
    assert [(c.id, [s.earned for s in c.sections]) for c in result.catalogues] == [("A", [0.5]), ("B", [0.0])]


def test_to_dict_is_json_ready() -> None:
    data = mixed().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert {"score", "earned", "possible", "counts", "blockers", "expiring", "catalogues", "controls"} <= set(
        data
    )
    assert data["score"] == 58.3
    assert data["blockers"][0]["control_id"] == "G"
    assert data["blockers"][0]["reason"] == "unanswered"
    assert data["catalogues"][1]["sections"][0] == {
        "id": "S1",
        "title": "Section S1",
        "score": 75.0,
        "earned": 1.5,
        "possible": 2,
        "counts": {
            "met": 2,
            "partially_met": 0,
            "not_met": 0,
            "not_applicable": 0,
            "unanswered": 0,
            "out_of_scope": 0,
        },
    }
    assert data["expired"][0]["expires_on"] == "2025-05-31"
    control = data["controls"][2]
    assert (control["control_id"], control["earned"], control["status"]) == ("C", 0.5, "met")


def test_dates_are_iso_strings_in_to_dict() -> None:
    data = run(ctl(evidence=(ev("E-1", 5),))).to_dict()
    assert data["expiring"] == [
        {
            "evidence_id": "E-1",
            "title": "Evidence E-1",
            "expires_on": "2025-06-06",
            "days_left": 5,
            "control_ids": ["C-1"],
        }
    ]


def test_explain_traces_every_point() -> None:
    lines = mixed().explain()
    assert lines[0] == "A: 1 of 1 (met)"
    assert "C: 0.5 of 1 (met, but evidence expired on 2025-05-31: half credit)" in lines
    assert not any(line.startswith(("F:", "G:", "H:")) for line in lines)


def test_accepts_a_generator() -> None:
    result = compute((ctl(f"C-{i}", evidence=CURRENT) for i in range(3)), today=TODAY)
    assert (result.earned, result.possible, result.score) == (3.0, 3, 100.0)
