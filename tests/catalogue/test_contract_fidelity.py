"""Catalogue corrections from the contract-fidelity review (../shared/design/contract-fidelity.md,
sections 2-4 and 9), each asserted against the loaded library with the clause it rests on."""

from __future__ import annotations

import pytest

from app.catalogue import load_library
from app.domain.catalogue import Criticality, Library, Relation
from tests.conftest import CONTROLS

# The reviewed mapping kinds: (declaring control, target, kind), review section 9 row number.
# Each row was checked against both clauses; the kind is the weakest true relation.
REVIEWED_MAPPINGS = [
    # 1: same duty, only the assurance scheme differs
    ("S24-A1-2.1", "CO7-A1-2.1", Relation.EQUIVALENT),
    # 2: CO7 A1 2.2 adds management authority, enforced configuration and a "known good" state
    ("S24-A1-2.2", "CO7-A1-2.2", Relation.RELATED),
    # 3: CO7 A1 4.1 needs a Foundation Grade assured product or PSN; S2.4 A1 3 only "encrypted"
    ("S24-A1-3", "CO7-A1-4.1", Relation.RELATED),
    # 9: different minimum log content (user-access reports vs outbound-request/security-event logs)
    ("S24-A1-7.1", "CO7-A1-8.1", Relation.RELATED),
    # 12: CPS 5.2 is conformity of cloud services used; S2.4 A1 10.1(c) designs the whole IMS
    ("CPS-5.2", "S24-A1-10.1c", Relation.RELATED),
    # 13: same duty
    ("CPS-5.3", "S24-A1-2.2", Relation.EQUIVALENT),
    # 14: CO7 A1 2.2 contains CPS 5.3 plus management-authority and known-good duties
    ("CPS-5.3", "CO7-A1-2.2", Relation.RELATED),
    # 16: CPS 5.7 adds least privilege and monitoring to the 1 Working Day revocation of S2.4 A1 4.6(a)
    ("CPS-5.7", "S24-A1-4.6a", Relation.COVERS),
    # 17: same revocation duty (borderline, kept)
    ("CPS-5.7", "CO7-A1-6.5", Relation.EQUIVALENT),
    # 19, 20: a certification clause covers the framework controls it rests on
    ("CPS-1.5", "CEP-TC1", Relation.COVERS),
    ("CPS-1.6", "ISO-4.3", Relation.COVERS),
    # 24: S2.4 A1 8 restricts processing to the UK; NCSC 2.1 is about knowing where data is
    ("S24-A1-8", "NCSC-2.1", Relation.RELATED),
]


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(CONTROLS)


@pytest.mark.parametrize(
    ("source", "target", "kind"), REVIEWED_MAPPINGS, ids=[f"{s}->{t}" for s, t, _ in REVIEWED_MAPPINGS]
)
def test_mapping_kind_matches_the_reviewed_table(
    library: Library, source: str, target: str, kind: Relation
) -> None:
    declared = [m.relation for m in library.controls[source].mappings if m.target == target]
    assert declared == [kind]


def test_s24_6_3_guidance_does_not_let_iso_27001_meet_at_least_cyber_essentials(library: Library) -> None:
    # Schedule 2.4 para 6.3: "... each Medium Risk Sub-contractor is certified compliant with at
    # least Cyber Essentials." ISO/IEC 27001 is another scheme (review section 3, S24-6.3, M).
    control = library.controls["S24-6.3"]
    assert "also satisfies" not in control.guidance
    assert "does not meet this floor" in control.guidance
    assert "(or higher)" not in control.evidence


def test_s24_6_3_is_not_a_gate(library: Library) -> None:
    # Para 6.3 has no "before receiving data" condition, unlike 6.1 and 6.2 (review section 3).
    assert library.controls["S24-6.3"].criticality is Criticality.HIGH
    assert library.controls["S24-6.1"].criticality is Criticality.GATE


def test_s24_6_8_applies_without_sub_contractors(library: Library) -> None:
    # Para 6.8: "... all of its Third Party Contracts and Third Party Software" (review section 3).
    assert library.controls["S24-6.8"].applies_if is None


@pytest.mark.parametrize(
    "control_id",
    [
        "CPS-1.4",  # "The CPS is keen to appoint Service Providers that maintain a culture ..."
        "CPS-2.2",  # "... were assessed as Impact Level 3 (IL3)." (a fact, no duty)
        "CPS-3.2",  # "The CPS shall carry out periodic spot checks ..." (a CPS right)
    ],
)
def test_cps_preferences_facts_and_buyer_rights_are_information_not_duties(
    library: Library, control_id: str
) -> None:
    # Review section 2: these three were strengthened into supplier duties.
    control = library.controls[control_id]
    assert control.criticality is Criticality.INFORMATION
    assert control.weight == 0 and not control.evidence_required and control.recurrence is None
    assert " must " not in f" {control.requirement} "
    assert control.requirement.startswith("For information:")


def test_cps_1_6_evidence_accepts_equivalent_certifications(library: Library) -> None:
    # CPS 1.6: "ISO 27001 certification (or the equivalent certifications)"; UKAS is a
    # Schedule 2.4 para 6.1 term (review section 2).
    control = library.controls["CPS-1.6"]
    assert "UKAS" not in control.evidence
    assert "equivalent" in control.evidence
    assert "UKAS-accredited body and" not in control.guidance


@pytest.mark.parametrize("control_id", ["CO7-3.1", "CO7-4.1"])
def test_call_off_isms_and_plan_submissions_are_not_gates(library: Library, control_id: str) -> None:
    # Call Off Schedule 7 long form 3.1 / 4.1: submitted "for Approval"; no paragraph bars
    # processing before Approval (review section 4).
    assert library.controls[control_id].criticality is Criticality.HIGH


def test_gates_are_only_clauses_that_bar_processing(library: Library) -> None:
    gates = {c.id for c in library.controls.values() if c.is_gate}
    assert not gates & {"S24-6.3", "CO7-3.1", "CO7-4.1"}
    assert {"CPS-1.5", "CPS-1.6", "S24-6.1"} <= gates
