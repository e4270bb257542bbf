"""Control catalogues: the types every answer, score and deadline hangs off.

A catalogue is a versioned set of controls from one source (a contract document
or a public framework). Each control cites the exact clause it comes from and
says what evidence an advisor expects. Controls map to controls of other
catalogues; a mapping is declared once and read in both directions.

Rules checked by `validate` (and so at start-up and in the tests):
- control ids are unique across all catalogues and start with the catalogue's prefix;
- every control names an existing section, at least one source clause, a source
  reference and an evidence expectation;
- every clause in a catalogue's source index is covered by at least one control;
- every mapping target exists, in another catalogue, and each pair of controls is
  mapped once (on one side, with one relation);
- every scoping condition names a known scoping question;
- short-form paragraphs (below) are in the catalogue's short-form index, and every
  paragraph of that index has a control.

A contract that comes in two forms keeps one catalogue. Call Off Schedule 7 (seed 002)
has a short form (paragraphs 1 to 5) and a long form (paragraphs 1 to 9, with Annex 1).
The catalogue follows the long form: `clauses` are long-form numbers (``body-4.1``)
or Annex 1 numbers (``3.2``). `short_form_clauses` gives, for a long-form duty, the
short-form paragraph that places the same duty or its short-form part (long form 4.1
and 4.3, the plan and its approval, are short form 4.1.1, 4.3.1 and 4.3.2), and is
empty where the short form has no such duty (the ISMS of long form paragraph 3).
The catalogue's `short_form_source_clauses` lists every short-form paragraph that
places a duty on the supplier, so each is answered by some control.

Criticality ``information`` marks a clause that is not a supplier duty: a buyer's
selection preference (CPS Security Policy 1.4), a background fact (2.2) or a
right the buyer keeps (3.2). It is shown with its clause, never scored and never
a blocker, so readiness does not ask the supplier to prove something the contract
does not ask of it.

"Apply to mapped controls" (`may_copy_answer`) copies an answer and its evidence
only where meeting the source control means meeting the target:

- ``equivalent``: the two say the same thing, so either direction is safe;
- ``covers``: the declaring control contains the whole of its target and more, so
  an answer flows from the covering (stricter) control to the covered one only.
  The reverse would mark the stricter control met on evidence of its smaller part;
- ``related``: they overlap, but neither implies the other, so never.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Criticality(StrEnum):
    GATE = "gate"
    HIGH = "high"
    NORMAL = "normal"
    INFORMATION = "information"  # not a supplier duty: shown, never scored, never a blocker


class Relation(StrEnum):
    EQUIVALENT = "equivalent"
    COVERS = "covers"
    RELATED = "related"


class Recurrence(StrEnum):
    ANNUAL = "annual"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"
    ON_EVENT = "on-event"


INVERSE_LABEL = {
    Relation.EQUIVALENT: "equivalent to",
    Relation.COVERS: "covered by",
    Relation.RELATED: "related to",
}
FORWARD_LABEL = {
    Relation.EQUIVALENT: "equivalent to",
    Relation.COVERS: "rests on",
    Relation.RELATED: "related to",
}


@dataclass(frozen=True, slots=True)
class Mapping:
    target: str
    relation: Relation


@dataclass(frozen=True, slots=True)
class Control:
    id: str
    catalogue_id: str
    section_id: str
    title: str
    requirement: str
    guidance: str
    source: str
    clauses: tuple[str, ...]
    evidence: str
    evidence_required: bool = True
    criticality: Criticality = Criticality.NORMAL
    applies_if: str | None = None
    recurrence: Recurrence | None = None
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    mappings: tuple[Mapping, ...] = ()
    short_form_clauses: tuple[str, ...] = ()  # the same duty's paragraphs in a short form

    @property
    def is_gate(self) -> bool:
        return self.criticality is Criticality.GATE

    @property
    def is_information(self) -> bool:
        return self.criticality is Criticality.INFORMATION

    @property
    def weight(self) -> int:
        if self.is_information:
            return 0
        return 2 if self.criticality is Criticality.HIGH else 1

    @property
    def search_text(self) -> str:
        parts = (self.id, self.title, self.requirement, self.guidance, self.evidence, self.source)
        return " ".join((*parts, *self.aliases, *self.keywords)).casefold()


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    controls: tuple[Control, ...]


@dataclass(frozen=True, slots=True)
class Catalogue:
    id: str
    title: str
    version: str
    source: str
    kind: str
    description: str
    id_prefix: str
    source_clauses: tuple[str, ...]
    sections: tuple[Section, ...]
    updated: date | None = None
    short_form_source_clauses: tuple[str, ...] = ()  # supplier duties of a short form, if any

    @property
    def controls(self) -> tuple[Control, ...]:
        return tuple(c for s in self.sections for c in s.controls)


@dataclass(frozen=True, slots=True)
class ScopingQuestion:
    id: str
    text: str
    help: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    """A mapping seen from one control: the other control and how they relate."""

    control_id: str
    catalogue_id: str
    relation: Relation
    label: str
    declared_here: bool


@dataclass(frozen=True, slots=True)
class Library:
    """All catalogues and scoping questions, with mappings indexed both ways."""

    catalogues: tuple[Catalogue, ...]
    questions: tuple[ScopingQuestion, ...]
    fingerprint: str = ""
    controls: MappingABC[str, Control] = field(default_factory=dict)
    links: MappingABC[str, tuple[Link, ...]] = field(default_factory=dict)

    def catalogue(self, catalogue_id: str) -> Catalogue | None:
        return next((c for c in self.catalogues if c.id == catalogue_id), None)

    def search(self, query: str, catalogue_id: str | None = None) -> list[Control]:
        """Controls whose text holds every word of `query` (case-insensitive)."""
        words = query.casefold().split()
        pool: Iterable[Control] = self.controls.values()
        if catalogue_id is not None:
            pool = (c for c in pool if c.catalogue_id == catalogue_id)
        return [c for c in pool if all(w in c.search_text for w in words)]


def may_copy_answer(relation: Relation, declared_here: bool) -> bool:
    """May an answer be copied from a control to a mapped one? (Rule in the module docstring.)

    `declared_here` is True when the mapping is declared on the control the answer comes
    from, i.e. that control is the subject of "covers" (`Link.declared_here`)."""
    if relation is Relation.EQUIVALENT:
        return True
    if relation is Relation.COVERS:
        return declared_here
    return False


def build_library(
    catalogues: Iterable[Catalogue], questions: Iterable[ScopingQuestion], fingerprint: str = ""
) -> Library:
    """Index controls by id and mappings in both directions (assumes `validate` passed)."""
    cats = tuple(catalogues)
    controls = {c.id: c for cat in cats for c in cat.controls}
    links: dict[str, list[Link]] = {cid: [] for cid in controls}
    for control in controls.values():
        for m in control.mappings:
            target = controls.get(m.target)
            if target is None:
                continue
            links[control.id].append(
                Link(target.id, target.catalogue_id, m.relation, FORWARD_LABEL[m.relation], True)
            )
            links[target.id].append(
                Link(control.id, control.catalogue_id, m.relation, INVERSE_LABEL[m.relation], False)
            )
    frozen = {cid: _dedupe(ls) for cid, ls in links.items()}
    return Library(cats, tuple(questions), fingerprint, controls, frozen)


def _dedupe(links: list[Link]) -> tuple[Link, ...]:
    seen: dict[str, Link] = {}
    for link in links:
        seen.setdefault(link.control_id, link)
    return tuple(seen.values())


def validate(catalogues: Iterable[Catalogue], questions: Iterable[ScopingQuestion]) -> list[str]:
    """Every broken rule, one message each naming the catalogue, control and field."""
    cats = list(catalogues)
    question_ids = {q.id for q in questions}
    problems: list[str] = []
    owner: dict[str, str] = {}
    for cat in cats:
        for control in cat.controls:
            where = f"{cat.id}: control {control.id}"
            if control.id in owner:
                problems.append(f"{where}: id: also used in {owner[control.id]}")
            owner[control.id] = cat.id
            if not control.id.startswith(cat.id_prefix):
                problems.append(f"{where}: id: must start with {cat.id_prefix!r}")
            problems.extend(_control_problems(where, control, set(cat.source_clauses)))
            if control.applies_if and control.applies_if not in question_ids:
                problems.append(f"{where}: applies_if: unknown question {control.applies_if!r}")
        covered = {clause for c in cat.controls for clause in c.clauses}
        for clause in cat.source_clauses:
            if clause not in covered:
                problems.append(f"{cat.id}: source_clauses: clause {clause!r} has no control")
        problems.extend(_short_form_problems(cat))
    problems.extend(_mapping_problems(cats, owner))
    return problems


def _short_form_problems(cat: Catalogue) -> list[str]:
    index = set(cat.short_form_source_clauses)
    problems = [
        f"{cat.id}: control {control.id}: short_form_clauses: {clause!r} is not in the "
        "catalogue's short_form_source_clauses"
        for control in cat.controls
        for clause in control.short_form_clauses
        if clause not in index
    ]
    answered = {clause for c in cat.controls for clause in c.short_form_clauses}
    problems.extend(
        f"{cat.id}: short_form_source_clauses: clause {clause!r} has no control"
        for clause in cat.short_form_source_clauses
        if clause not in answered
    )
    return problems


def _mapping_problems(cats: list[Catalogue], owner: dict[str, str]) -> list[str]:
    problems: list[str] = []
    declared: dict[frozenset[str], str] = {}
    for cat in cats:
        for control in cat.controls:
            where = f"{cat.id}: control {control.id}: mappings"
            for m in control.mappings:
                target_cat = owner.get(m.target)
                if target_cat is None:
                    problems.append(f"{where}: unknown target {m.target!r}")
                    continue
                if target_cat == cat.id:
                    problems.append(f"{where}: {m.target!r} is in the same catalogue")
                pair = frozenset((control.id, m.target))
                if pair in declared:
                    problems.append(
                        f"{where}: {m.target!r} is already mapped on {declared[pair]}; declare a pair once"
                    )
                declared.setdefault(pair, control.id)
    return problems


def _control_problems(where: str, control: Control, clauses: set[str]) -> list[str]:
    problems = [
        f"{where}: {name}: must not be empty"
        for name in ("title", "requirement", "source", "evidence")
        if not getattr(control, name).strip()
    ]
    if not control.clauses:
        problems.append(f"{where}: clauses: at least one source clause is needed")
    problems.extend(
        f"{where}: clauses: {clause!r} is not in the catalogue's source_clauses"
        for clause in control.clauses
        if clause not in clauses
    )
    return problems
