"""The catalogue files are data that behaves like code: counted, cross-checked, traced to seeds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.adapters.catalogue_files import CatalogueError, load_catalogue, load_library
from app.domain.catalogue import Criticality, Library
from tests.conftest import CONTROLS

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
EXPECTED = {
    "cps-security-policy",
    "schedule-2-4",
    "call-off-schedule-7",
    "cyber-essentials",
    "iso27001-2022",
    "ncsc-cloud-principles",
}


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(CONTROLS)


def test_all_six_catalogues_load_and_validate(library: Library) -> None:
    assert {c.id for c in library.catalogues} == EXPECTED


def test_ids_are_unique_across_catalogues(library: Library) -> None:
    ids = [c.id for cat in library.catalogues for c in cat.controls]
    assert len(ids) == len(set(ids))


def test_every_control_has_a_source_clause_and_evidence_expectation(library: Library) -> None:
    for control in library.controls.values():
        assert control.source.strip() and control.clauses, control.id
        assert len(control.evidence.strip()) >= 20, control.id


def test_every_mapping_resolves_and_shows_both_ways(library: Library) -> None:
    for control in library.controls.values():
        for mapping in control.mappings:
            assert mapping.target in library.controls, (control.id, mapping.target)
            reverse = {link.control_id for link in library.links[mapping.target]}
            assert control.id in reverse


def test_every_source_clause_has_a_control(library: Library) -> None:
    for catalogue in library.catalogues:
        covered = {clause for c in catalogue.controls for clause in c.clauses}
        assert set(catalogue.source_clauses) <= covered, catalogue.id


def test_cps_covers_all_37_clauses(library: Library) -> None:
    cps = library.catalogue("cps-security-policy")
    assert cps is not None
    expected = (
        [f"1.{i}" for i in range(1, 7)]
        + [f"2.{i}" for i in range(1, 4)]
        + [f"3.{i}" for i in range(1, 6)]
        + [f"4.{i}" for i in range(1, 14)]
        + [f"5.{i}" for i in range(1, 11)]
    )
    assert len(expected) == 37
    assert sorted(cps.source_clauses) == sorted(expected)


def test_cps_clauses_match_the_seed_document(library: Library) -> None:
    text = (SEEDS / "000_e15c6a3b40bf7abb.txt").read_text(encoding="utf-8")
    policy = text[text.index("CPS SECURITY POLICY") :]
    in_seed = set(re.findall(r"^(?:- )?(\d+\.\d+) ", policy, flags=re.M))
    cps = library.catalogue("cps-security-policy")
    assert cps is not None
    assert in_seed == set(cps.source_clauses)


def test_iso_has_all_93_annex_a_controls_and_clauses_4_to_10(library: Library) -> None:
    iso = library.catalogue("iso27001-2022")
    assert iso is not None
    annex = [c for c in iso.controls if c.id.startswith("ISO-A.")]
    for theme, count in {"5": 37, "6": 8, "7": 14, "8": 34}.items():
        ids = {c.id for c in annex if c.id.startswith(f"ISO-A.{theme}.")}
        assert ids == {f"ISO-A.{theme}.{n}" for n in range(1, count + 1)}
    assert len(annex) == 93
    clause_ids = {c.id for c in iso.controls} - {c.id for c in annex}
    assert {cid.split("-")[1].split(".")[0] for cid in clause_ids} == {
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10",
    }


def test_iso_2013_ids_are_aliases(library: Library) -> None:
    iso = library.catalogue("iso27001-2022")
    assert iso is not None
    aliases = {a for c in iso.controls for a in c.aliases}
    assert len(aliases) == 114
    assert "A.12.6.1" in library.controls["ISO-A.8.8"].aliases


def test_ncsc_has_14_principles(library: Library) -> None:
    ncsc = library.catalogue("ncsc-cloud-principles")
    assert ncsc is not None
    principles = {c.id for c in ncsc.controls if re.fullmatch(r"NCSC-\d+", c.id)}
    assert principles == {f"NCSC-{n}" for n in range(1, 15)}
    assert all(c.applies_if == "uses_cloud_services" for c in ncsc.controls)


def test_cyber_essentials_has_five_themes_and_plus_tests(library: Library) -> None:
    ce = library.catalogue("cyber-essentials")
    assert ce is not None
    prefixes = {c.id.rsplit("-", 1)[0] for c in ce.controls}
    assert {"CE-FW", "CE-CFG", "CE-SUM", "CE-UAC", "CE-MP"} <= prefixes
    assert {f"CEP-TC{n}" for n in range(1, 6)} <= {c.id for c in ce.controls}


def test_revoking_access_within_a_working_day_is_one_obligation_in_three_contracts(
    library: Library,
) -> None:
    linked = {link.control_id for link in library.links["CPS-5.7"]}
    assert {"S24-A1-4.6a", "CO7-A1-6.5"} <= linked


def test_gates_are_certificates_and_health_checks(library: Library) -> None:
    gates = {c.id for c in library.controls.values() if c.criticality is Criticality.GATE}
    assert {"CPS-1.5", "CPS-1.6"} <= gates


def test_removable_media_search_finds_cps_schedule_2_4_and_iso(library: Library) -> None:
    found = {c.catalogue_id for c in library.search("removable media")}
    assert {"cps-security-policy", "schedule-2-4", "iso27001-2022"} <= found
    assert "ISO-A.7.10" in {c.id for c in library.search("removable media")}


def write_catalogue(folder: Path, body: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "scoping.toml").write_text((CONTROLS / "scoping.toml").read_text())
    (folder / "tiny.toml").write_text(
        '[catalogue]\nid="tiny"\ntitle="T"\nversion="1"\nsource="s"\nkind="framework"\n'
        'description="d"\nid_prefix="T"\nsource_clauses=["1", "2"]\n'
        '[[sections]]\nid="1"\ntitle="S"\n' + body
    )


CONTROL = (
    '[[controls]]\nid="T-1"\nsection="1"\ntitle="x"\nrequirement="r"\nsource="s"\n'
    'clauses=["1"]\nevidence="e"\ncriticality="normal"\n'
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (CONTROL.replace('criticality="normal"', 'criticality="urgent"'), "T-1: criticality"),
        (CONTROL.replace('title="x"\n', ""), "T-1: title"),
        (CONTROL.replace('section="1"', 'section="9"'), "T-1: section"),
        (CONTROL, "clause '2' has no control"),
        (
            CONTROL.replace('clauses=["1"]', 'clauses=["1","2"]') + "[[controls.mappings]]\n"
            'target="NOPE-1"\nrelation="covers"\n',
            "T-1: mappings: unknown target 'NOPE-1'",
        ),
        (
            CONTROL.replace('clauses=["1"]', 'clauses=["1","2"]') + 'applies_if="maybe"\n',
            "T-1: applies_if",
        ),
        (CONTROL.replace('clauses=["1"]', 'clauses=["1","2"]') + CONTROL, "T-1: id: also used"),
        ("[[controls]\n", "tiny.toml: not valid TOML"),
    ],
)
def test_a_broken_file_names_file_control_and_field(tmp_path: Path, body: str, expected: str) -> None:
    folder = tmp_path / "controls"
    write_catalogue(folder, body)
    with pytest.raises(CatalogueError) as caught:
        load_library(folder)
    assert expected in str(caught.value)


def test_file_name_must_match_the_catalogue_id(tmp_path: Path) -> None:
    folder = tmp_path / "controls"
    write_catalogue(folder, CONTROL.replace('clauses=["1"]', 'clauses=["1","2"]'))
    (folder / "tiny.toml").rename(folder / "other.toml")
    with pytest.raises(CatalogueError, match="must equal the file name"):
        load_catalogue(folder / "other.toml")


def seed_lines(name: str, start: str, end: str | None = None) -> str:
    text = (SEEDS / name).read_text(encoding="utf-8")
    begin = text.index(start)
    finish = text.index(end, begin) if end else len(text)
    return text[begin:finish]


def numbered_paragraphs(text: str) -> set[str]:
    return set(re.findall(r"^(?:- )?(\d+(?:\.\d+)+) ", text, flags=re.M))


def test_schedule_2_4_body_paragraphs_3_to_6_are_traced(library: Library) -> None:
    body = seed_lines("001_7d77124de15f7d1c.txt", "SCHEDULE 2.4", "ANNEX A 1: BASELINE")
    paragraphs = {p for p in numbered_paragraphs(body) if p.split(".")[0] in {"3", "4", "5", "6"}}
    authority_only = {"4.5"}  # the Authority's own 20-day decision: a deadline, not a control
    s24 = library.catalogue("schedule-2-4")
    assert s24 is not None
    assert paragraphs - authority_only <= set(s24.source_clauses)
    assert len(paragraphs) >= 25


def test_schedule_2_4_annex_a1_paragraphs_are_traced(library: Library) -> None:
    annex = seed_lines("001_7d77124de15f7d1c.txt", "ANNEX A 1: BASELINE")
    s24 = library.catalogue("schedule-2-4")
    assert s24 is not None
    index = set(s24.source_clauses)
    missing = [
        p
        for p in numbered_paragraphs(annex)
        if f"A1-{p}" not in index and not any(c.startswith(f"A1-{p}(") for c in index)
    ]
    assert missing == []
    for section in range(1, 11):  # every section 1-10 has at least one control
        assert any(c == f"A1-{section}" or c.startswith(f"A1-{section}.") for c in index)


def test_call_off_annex_1_paragraphs_are_traced(library: Library) -> None:
    annex = seed_lines(
        "002_e7f4c131fc912dac.txt",
        "ANNEX 1: BASELINE SECURITY REQUIREMENTS",
        "[CALL OFF SCHEDULE 8",
    )
    co7 = library.catalogue("call-off-schedule-7")
    assert co7 is not None
    assert numbered_paragraphs(annex) <= set(co7.source_clauses)
    assert {p.split(".")[0] for p in numbered_paragraphs(annex)} == {str(n) for n in range(1, 9)}


def write_pair(folder: Path, mappings_one: str, mappings_two: str) -> None:
    """Two tiny catalogues, each with one control, with the given mapping tables."""
    folder.mkdir(exist_ok=True)
    (folder / "scoping.toml").write_text((CONTROLS / "scoping.toml").read_text())
    for name, prefix, mappings in (("one", "A", mappings_one), ("two", "B", mappings_two)):
        (folder / f"{name}.toml").write_text(
            f'[catalogue]\nid="{name}"\ntitle="T"\nversion="1"\nsource="s"\nkind="framework"\n'
            f'description="d"\nid_prefix="{prefix}"\nsource_clauses=["1"]\n'
            '[[sections]]\nid="1"\ntitle="S"\n'
            f'[[controls]]\nid="{prefix}-1"\nsection="1"\ntitle="x"\nrequirement="r"\nsource="s"\n'
            'clauses=["1"]\nevidence="e"\ncriticality="normal"\n' + mappings
        )


def mapping(target: str, relation: str) -> str:
    return f'[[controls.mappings]]\ntarget="{target}"\nrelation="{relation}"\n'


@pytest.mark.parametrize(
    ("one", "two", "expected"),
    [
        (
            mapping("B-1", "related"),
            mapping("A-1", "related"),
            "two: control B-1: mappings: 'A-1' is already",
        ),
        (
            mapping("B-1", "covers") + mapping("B-1", "related"),
            "",
            "one: control A-1: mappings: 'B-1' is already",
        ),
    ],
)
def test_a_pair_of_controls_is_mapped_once(tmp_path: Path, one: str, two: str, expected: str) -> None:
    folder = tmp_path / "controls"
    write_pair(folder, one, two)
    with pytest.raises(CatalogueError) as caught:
        load_library(folder)
    assert expected in str(caught.value) and "declare a pair once" in str(caught.value)
    write_pair(folder, mapping("B-1", "related"), "")  # declared once: loads, shown both ways
    library = load_library(folder)
    assert [link.control_id for link in library.links["B-1"]] == ["A-1"]


TWO_CLAUSES = CONTROL.replace('clauses=["1"]', 'clauses=["1","2"]')


@pytest.mark.parametrize(
    ("index", "body", "expected"),
    [
        ("", TWO_CLAUSES + 'short_form_clauses=["4.1"]\n', "T-1: short_form_clauses: '4.1' is not in"),
        (
            'short_form_source_clauses=["4.1"]\n',
            TWO_CLAUSES,
            "short_form_source_clauses: clause '4.1' has no",
        ),
        ("", TWO_CLAUSES + 'short_form_clauses="4.1"\n', "T-1: short_form_clauses: a list of texts"),
        ('short_form_source_clauses="4.1"\n', TWO_CLAUSES, "[catalogue]: short_form_source_clauses: a list"),
    ],
)
def test_short_form_paragraphs_are_checked_like_source_clauses(
    tmp_path: Path, index: str, body: str, expected: str
) -> None:
    folder = tmp_path / "controls"
    write_catalogue(folder, body)
    path = folder / "tiny.toml"
    path.write_text(
        path.read_text().replace('source_clauses=["1", "2"]\n', f'source_clauses=["1", "2"]\n{index}')
    )
    with pytest.raises(CatalogueError) as caught:
        load_library(folder)
    assert expected in str(caught.value)


def test_a_short_form_paragraph_loads_onto_the_control(tmp_path: Path) -> None:
    folder = tmp_path / "controls"
    write_catalogue(folder, TWO_CLAUSES + 'short_form_clauses=["4.1", "4.2"]\n')
    path = folder / "tiny.toml"
    path.write_text(
        path.read_text().replace(
            'source_clauses=["1", "2"]\n',
            'source_clauses=["1", "2"]\nshort_form_source_clauses=["4.1", "4.2"]\n',
        )
    )
    library = load_library(folder)
    assert library.controls["T-1"].short_form_clauses == ("4.1", "4.2")
    tiny = library.catalogue("tiny")
    assert tiny is not None and tiny.short_form_source_clauses == ("4.1", "4.2")
