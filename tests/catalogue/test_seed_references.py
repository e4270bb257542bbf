"""Every clause a contract control cites exists in the seed it cites (tests/catalogue/seeds.py
reads the paragraph numbers out of the seed texts), its `source` text and its `clauses` name
the same paragraphs, and Call Off Schedule 7's long and short forms are traced paragraph by
paragraph: each supplier duty has a control, and each left out is listed with its reason."""

from __future__ import annotations

import dataclasses
import re

import pytest

from app.adapters.catalogue_files import load_library
from app.domain import workflow
from app.domain.catalogue import Catalogue, Control, Criticality, Library
from tests.catalogue.seeds import (
    CLAUSE_PARTS,
    PARTS,
    clause_part,
    paragraphs,
    parse_source,
    part_text,
)
from tests.conftest import CONTROLS

CONTRACTS = sorted(CLAUSE_PARTS)
CO7 = "call-off-schedule-7"

# Call Off Schedule 7 long form: paragraphs with no control, each because it puts no duty on
# the supplier.
LONG_FORM_LEFT_OUT = {
    "1.1": "definitions",
    "2.1": "the parties acknowledge the purpose of the ISMS and plan",
    "2.3": "applies Clause 26 (Key Personnel) to the representatives; its cross-reference is broken",
    "2.4": "a duty of the Customer (state its high-level security requirements)",
    "2.8": "the parties acknowledge that security risks are shared",
    "3.4": "references to standards include their successors",
    "3.7": "Approval of the ISMS does not relieve the Supplier",
    "4.4": "Approval of the plan does not relieve the Supplier",
    "5.4": "the Customer may approve changes on faster timescales",
    "7.1": "a right of the Customer (security audits)",
    "7.2": "a right of the Customer (notice, time to remedy, independent audit)",
    "9.1": "the parties acknowledge that vulnerabilities will be found",
}
# Call Off Schedule 7 short form: paragraphs no control cites in `short_form_clauses`.
SHORT_FORM_LEFT_OUT = {
    "1.1": "definitions",
    "2.1": "purpose of the schedule",
    "2.2": "what the schedule covers",
    "3.1": "the Supplier acknowledges the weight placed on security",
    "3.3": "references to standards include their successors",
    "4.3.3": "a duty of the Customer (not to withhold or delay Approval unreasonably)",
    "4.3.4": "Approval of the plan does not relieve the Supplier",
    "4.4.4": "the Customer may approve changes on faster timescales",
}


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(CONTROLS)


def contract(library: Library, catalogue_id: str) -> Catalogue:
    catalogue = library.catalogue(catalogue_id)
    assert catalogue is not None
    return catalogue


def test_the_seed_parts_are_found_and_numbered() -> None:
    # A sanity check on the reader: each part has the paragraphs the seeds README describes.
    assert {"1.1", "5.10"} <= paragraphs("cps").labels and "5.11" not in paragraphs("cps").labels
    assert paragraphs("cps").bullets["5.5"] == 5  # the five conditions of CPS 5.5
    assert {"4.4", "6.8"} <= paragraphs("s24-body").labels
    assert {"1", "4.6(b)", "10.1(c)(xiv)"} <= paragraphs("s24-annex").labels
    assert {"4.3.1", "4.3.2", "4.4.1", "5.3"} <= paragraphs("co7-short").labels
    assert "6.1" not in paragraphs("co7-short").labels  # the short form ends at paragraph 5
    assert {"2.6", "3.3.3(k)", "7.3", "9.7"} <= paragraphs("co7-long").labels
    assert {"1.1", "8.3"} <= paragraphs("co7-annex").labels
    for part in PARTS:
        assert len(part_text(part)) > 2000, part


@pytest.mark.parametrize("catalogue_id", CONTRACTS)
def test_every_control_cites_the_catalogues_own_seed(library: Library, catalogue_id: str) -> None:
    catalogue = contract(library, catalogue_id)
    seed = catalogue.source.split(", ")[0]
    assert seed.endswith(".txt")
    assert [c.id for c in catalogue.controls if not c.source.startswith(seed + ", ")] == []


@pytest.mark.parametrize("catalogue_id", CONTRACTS)
def test_every_clause_exists_in_the_seed(library: Library, catalogue_id: str) -> None:
    catalogue = contract(library, catalogue_id)
    missing = []
    for clause in catalogue.source_clauses:
        part, label = clause_part(catalogue_id, clause)
        if label not in paragraphs(part).labels:
            missing.append((clause, part))
    assert missing == []


def cited(control: Control) -> tuple[str, set[str]]:
    ref = parse_source(control.source)
    return ref.part, set(ref.refs)


def under(ref: str, clause: str) -> bool:
    return ref == clause or ref.startswith(clause + "(") or ref.startswith(clause + ".")


@pytest.mark.parametrize("catalogue_id", CONTRACTS)
def test_every_source_text_names_paragraphs_that_exist(library: Library, catalogue_id: str) -> None:
    wrong = []
    for control in contract(library, catalogue_id).controls:
        ref = parse_source(control.source)
        numbers = paragraphs(ref.part)
        wrong += [(control.id, r) for r in ref.refs if r not in numbers.labels]
        wrong += [(control.id, f"{p} #{n}") for p, n in ref.ordinals if numbers.bullets.get(p, 0) < n]
        if not ref.refs:
            wrong.append((control.id, "no paragraph number"))
    assert wrong == []


@pytest.mark.parametrize("catalogue_id", CONTRACTS)
def test_source_text_and_clauses_name_the_same_paragraphs(library: Library, catalogue_id: str) -> None:
    disagree = []
    for control in contract(library, catalogue_id).controls:
        part, refs = cited(control)
        labels = []
        for clause in control.clauses:
            clause_in, label = clause_part(catalogue_id, clause)
            labels.append(label)
            if clause_in != part or not any(under(r, label) for r in refs):
                disagree.append((control.id, clause, "clause not in source text"))
        disagree += [
            (control.id, r, "source text names a paragraph outside clauses")
            for r in refs
            if not any(under(r, label) for label in labels)
        ]
    assert disagree == []


def test_the_five_conditions_of_cps_5_5_are_five_controls(library: Library) -> None:
    cps = contract(library, "cps-security-policy")
    conditions = [c for c in cps.controls if c.clauses == ("5.5",)]
    ordinals = [parse_source(c.source).ordinals for c in conditions]
    assert sorted(o[0][1] for o in ordinals) == [1, 2, 3, 4, 5]


def test_every_short_form_paragraph_cited_exists_in_the_short_form(library: Library) -> None:
    co7 = contract(library, CO7)
    short = paragraphs("co7-short").labels
    cited_anywhere = set(co7.short_form_source_clauses) | {
        p for c in co7.controls for p in c.short_form_clauses
    }
    assert cited_anywhere and cited_anywhere <= short
    assert [c.id for c in library.controls.values() if c.short_form_clauses and c.catalogue_id != CO7] == []


def covered(paragraph: str, index: set[str]) -> bool:
    return any(under(paragraph, clause) or under(clause, paragraph) for clause in index)


def test_call_off_long_form_supplier_duties_each_have_a_control(library: Library) -> None:
    # Paragraphs 2 to 9 of the long form, numbered ones (x.y and deeper), against the index.
    index = {c.removeprefix("body-") for c in contract(library, CO7).source_clauses if c.startswith("body-")}
    numbered = {p for p in paragraphs("co7-long").labels if re.fullmatch(r"\d+(\.\d+)+", p)}
    left_out = set(LONG_FORM_LEFT_OUT)
    untraced = sorted(p for p in numbered if not covered(p, index) and not covered(p, left_out))
    assert untraced == []
    assert set(LONG_FORM_LEFT_OUT) <= numbered  # every exception is a real paragraph ...
    assert [p for p in LONG_FORM_LEFT_OUT if p in index] == []  # ... and really left out


@pytest.mark.parametrize(
    ("control_id", "clause"),
    [
        ("CO7-2.2", "body-2.2"),  # "The Parties shall each appoint a security representative"
        ("CO7-2.5", "body-2.5"),  # reasonable access to personnel
        ("CO7-2.6", "body-2.6"),  # Good Industry Practice; effective control of Customer Data
        ("CO7-3.2", "body-3.2"),  # responsible for the effective performance of the ISMS
        ("CO7-3.5", "body-3.5"),  # notify the Customer Representative of inconsistencies immediately
        ("CO7-6.3", "body-6.3"),  # the Customer may test, penetration tests included
        ("CO7-7.3", "body-7.3"),  # remedy at own expense, reimburse the independent audit
        ("CO7-8.3", "body-8.3"),  # breach-driven ISMS changes at no cost to the Customer
    ],
)
def test_the_missing_long_form_obligations_are_controls(
    library: Library, control_id: str, clause: str
) -> None:
    control = library.controls[control_id]
    assert control.catalogue_id == CO7 and control.clauses == (clause,)
    assert not control.is_gate
    assert control.source.endswith(f"long form para {clause.removeprefix('body-')}")


def test_the_long_form_additions_are_weighted_as_the_clauses_read(library: Library) -> None:
    # 2.6 is a material supplier duty; 6.3 is a right of the Customer; 3.5, 7.3 and 8.3 arise
    # only on an event (an inconsistency found, an independent audit failed, a breach).
    assert library.controls["CO7-2.6"].criticality is Criticality.HIGH
    assert library.controls["CO7-6.3"].criticality is Criticality.INFORMATION
    assert library.controls["CO7-6.3"].requirement.startswith("For information:")
    for control_id in ("CO7-3.5", "CO7-7.3", "CO7-8.3"):
        control = library.controls[control_id]
        assert not control.evidence_required and control.recurrence is not None, control_id
        assert control.criticality is Criticality.NORMAL


def test_call_off_short_form_duties_each_map_to_a_control(library: Library) -> None:
    co7 = contract(library, CO7)
    answered = {p for c in co7.controls for p in c.short_form_clauses}
    numbered = {p for p in paragraphs("co7-short").labels if re.fullmatch(r"\d+(\.\d+)+", p)}
    left_out = set(SHORT_FORM_LEFT_OUT)
    untraced = sorted(p for p in numbered if not covered(p, answered) and not covered(p, left_out))
    assert untraced == []
    assert set(SHORT_FORM_LEFT_OUT) <= numbered
    assert [p for p in SHORT_FORM_LEFT_OUT if covered(p, answered)] == []


@pytest.mark.parametrize(
    ("control_id", "short_form"),
    [
        ("CO7-4.1", ("4.1.1", "4.3.1", "4.3.2")),  # the plan, its submission and its approval
        ("CO7-4.2", ("4.2.1",)),  # what the plan contains
        ("CO7-5.1", ("4.4.1", "4.4.2")),  # annual review and its results
        ("CO7-5.3", ("4.4.3",)),  # changes only through the Variation Procedure
        ("CO7-8.1", ("5.1",)),  # notify a Breach of Security
        ("CO7-8.3", ("5.3",)),  # breach-driven changes at no cost
        ("CO7-3.1", ()),  # the ISMS exists in the long form only
        ("CO7-9.3", ()),  # so do the patching timescales
    ],
)
def test_body_controls_name_the_short_form_paragraph(
    library: Library, control_id: str, short_form: tuple[str, ...]
) -> None:
    assert library.controls[control_id].short_form_clauses == short_form


def test_annex_1_controls_name_no_short_form_paragraph(library: Library) -> None:
    # The short form never refers to Annex 1; only long form 3.3.3(b), 4.2.2, 5.3 and 6.4 do.
    annex = [c for c in contract(library, CO7).controls if c.section_id != "body"]
    assert annex and all(c.short_form_clauses == () for c in annex)
    assert "Baseline Security Requirements" not in part_text("co7-short")


def profile_strings(value: object) -> list[str]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in profile_strings(getattr(value, f.name))]
    return [value] if isinstance(value, str) else []


def cited_paragraphs(texts: list[str]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        for m in re.finditer(r"paras? (\d+(?:\.\d+)+(?:(?:, | and | to )\d+(?:\.\d+)+)*)", text):
            found |= set(re.findall(r"\d+(?:\.\d+)+", m[1]))
    return found


@pytest.mark.parametrize("form", ["short", "long"])
def test_the_workflow_cites_numbers_the_catalogue_has_for_the_same_form(library: Library, form: str) -> None:
    # Catalogue and workflow cite the same paragraph numbers for either form (issue 13 item 8).
    co7 = contract(library, CO7)
    if form == "short":
        numbers = {p for c in co7.controls for p in c.short_form_clauses}
    else:
        numbers = {c.removeprefix("body-") for c in co7.source_clauses if c.startswith("body-")}
    cited_by_workflow = cited_paragraphs(profile_strings(workflow.profile(CO7, form)))
    assert cited_by_workflow, form
    assert sorted(p for p in cited_by_workflow if not covered(p, numbers)) == []
