"""Catalogue corrections from the contract-fidelity review (../shared/design/contract-fidelity.md,
sections 2-4), each asserted against the loaded library with the clause it rests on. The
mapping kinds of its section 9 are checked in test_mapping_table.py against mappings.csv."""

from __future__ import annotations

import pytest

from app.adapters.catalogue_files import load_library
from app.domain.catalogue import Criticality, Library
from tests.conftest import CONTROLS


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(CONTROLS)


def test_s24_6_3_guidance_does_not_let_iso_27001_meet_at_least_cyber_essentials(library: Library) -> None:
    # Schedule 2.4 para 6.3: "... each Medium Risk Sub-contractor is certified compliant with at
    # least Cyber Essentials." ISO/IEC 27001 is another scheme (review section 3, S24-6.3, M).
    control = library.controls["S24-6.3"]
    assert "also satisfies" not in control.guidance
    assert "does not meet this floor" in control.guidance
    assert "(or higher)" not in control.evidence


def test_s24_6_3_is_not_a_gate(library: Library) -> None:
    # Para 6.3 has no "before receiving data" condition, unlike 6.1 and 6.2 (review section 3):
    # it is a continuing duty, and a lapse is a para 6.6 loss of certification.
    control = library.controls["S24-6.3"]
    assert control.criticality is Criticality.HIGH
    assert "para 6.6" in control.guidance and "continuing" in control.guidance
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
    assert "(or equivalent certifications)" in control.requirement
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
