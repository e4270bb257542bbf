"""Every cross-mapping against the reviewed table in tests/catalogue/mappings.csv.

The table has one row per declared mapping: `source` (the declaring control), `target`,
`relation` and, for the rows someone has checked against both texts, a one-line `reason`.
"Apply to mapped controls" copies answers along `equivalent` either way and along `covers`
from the declaring control (app.domain.catalogue.may_copy_answer), so a mapping added or a
kind changed in controls/*.toml fails here until the table is changed with it. Rows that
let an answer be copied between two contracts, and every `equivalent`, need a reason. The
rows marked "review 9 #N" are the 25 sampled in section 9 of the contract-fidelity review
(../shared/design/contract-fidelity.md); "changed" marks a kind corrected since.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.adapters.catalogue_files import load_library
from app.domain.catalogue import Library, Relation
from tests.conftest import CONTROLS

TABLE = Path(__file__).with_name("mappings.csv")
CONTRACTS = {"cps-security-policy", "schedule-2-4", "call-off-schedule-7"}


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(CONTROLS)


def table_rows() -> list[dict[str, str]]:
    with TABLE.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["source", "target", "relation", "reason"]
        return list(reader)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return table_rows()


def declared(library: Library) -> Iterator[tuple[str, str, Relation]]:
    for control in library.controls.values():
        for mapping in control.mappings:
            yield control.id, mapping.target, mapping.relation


def test_every_declared_mapping_has_its_kind_in_the_reviewed_table(
    library: Library, rows: list[dict[str, str]]
) -> None:
    in_files = {(source, target): relation.value for source, target, relation in declared(library)}
    in_table = {(r["source"], r["target"]): r["relation"] for r in rows}
    added = sorted(set(in_files) - set(in_table))
    dropped = sorted(set(in_table) - set(in_files))
    changed = sorted(
        (pair, in_table[pair], kind) for pair, kind in in_files.items() if in_table.get(pair, kind) != kind
    )
    assert added == [], "mappings with no row in tests/catalogue/mappings.csv"
    assert dropped == [], "rows in tests/catalogue/mappings.csv with no mapping"
    assert changed == [], "kinds changed without the table: (pair, table, catalogue)"


def test_the_table_names_each_pair_once_with_a_known_kind(rows: list[dict[str, str]]) -> None:
    pairs = [frozenset((r["source"], r["target"])) for r in rows]
    assert len(pairs) == len(set(pairs))
    assert {r["relation"] for r in rows} <= {r.value for r in Relation}


def test_every_mapping_that_copies_answers_between_contracts_has_a_reason(
    library: Library, rows: list[dict[str, str]]
) -> None:
    unexplained = []
    for row in rows:
        ends = {library.controls[row["source"]].catalogue_id, library.controls[row["target"]].catalogue_id}
        copies = row["relation"] != Relation.RELATED.value
        if (row["relation"] == Relation.EQUIVALENT.value or (copies and ends <= CONTRACTS)) and not row[
            "reason"
        ].strip():
            unexplained.append((row["source"], row["target"], row["relation"]))
    assert unexplained == []


def test_the_review_sample_is_all_in_the_table(rows: list[dict[str, str]]) -> None:
    cited = {int(n) for r in rows for n in re.findall(r"review 9 #(\d+)", r["reason"])}
    assert cited == set(range(1, 26))


@pytest.mark.parametrize(
    ("source", "target", "kind"),
    [
        # The seven the review found wrong (section 9 rows 2, 3, 9, 12, 14, 16 and 24) ...
        ("S24-A1-2.2", "CO7-A1-2.2", Relation.RELATED),
        ("S24-A1-3", "CO7-A1-4.1", Relation.RELATED),
        ("S24-A1-7.1", "CO7-A1-8.1", Relation.RELATED),
        ("CPS-5.2", "S24-A1-10.1c", Relation.RELATED),
        ("CPS-5.3", "CO7-A1-2.2", Relation.RELATED),
        ("CPS-5.7", "S24-A1-4.6a", Relation.COVERS),
        ("S24-A1-8", "NCSC-2.1", Relation.RELATED),
        # ... and three it passed that fail the same test (rows 1, 15 and 17): the assurance
        # schemes for device encryption differ in all three contracts, and CPS 5.7 adds the
        # monitoring of privileged users to Call Off Schedule 7 Annex 1 para 6.5.
        ("S24-A1-2.1", "CO7-A1-2.1", Relation.RELATED),
        ("CPS-5.6", "S24-A1-2.1", Relation.RELATED),
        ("CPS-5.7", "CO7-A1-6.5", Relation.COVERS),
    ],
)
def test_corrected_kinds(library: Library, source: str, target: str, kind: Relation) -> None:
    assert [m.relation for m in library.controls[source].mappings if m.target == target] == [kind]


def test_equivalence_is_consistent_across_contracts(library: Library) -> None:
    # If A says the same as B and B the same as C, A and C cannot merely be "related".
    group = {cid: cid for cid in library.controls}

    def root(cid: str) -> str:
        while group[cid] != cid:
            cid = group[cid]
        return cid

    for source, target, relation in declared(library):
        if relation is Relation.EQUIVALENT:
            group[root(source)] = root(target)
    inconsistent = [
        (source, target, relation.value)
        for source, target, relation in declared(library)
        if relation is not Relation.EQUIVALENT and root(source) == root(target)
    ]
    assert inconsistent == []


def test_no_answer_is_copied_into_a_gate_or_into_or_out_of_an_information_clause(library: Library) -> None:
    # A gate is met on its own evidence (the register, a copy sent before data); an
    # information clause has no answer to give or take.
    found = []
    for source, target, relation in declared(library):
        one, other = library.controls[source], library.controls[target]
        if relation is Relation.RELATED:
            continue
        into = [other] if relation is Relation.COVERS else [one, other]
        if any(c.is_gate for c in into) or one.is_information or other.is_information:
            found.append((source, target, relation.value))
    assert found == []
