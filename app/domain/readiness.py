"""Readiness: how far an engagement is from meeting its controls, and what still blocks it.

Rule (product brief "Readiness"; which gates bind an engagement, and the contract preconditions
beside them, come from the engagement's own contract: app.domain.gates).
Readiness is computed from answers and evidence every time, never stored as the truth,
and every point of it belongs to exactly one control (`Readiness.controls`).

Evidence is *current* when it has no expiry date or expires today or later
(`expires_on >= today`); evidence expiring today still counts.

For each control:

- Out of scope (a scoping answer switched it off, `applicable` is False): weight 0,
  no credit, no blocker, counted as ``out_of_scope``. Its evidence is not listed.
- Information (criticality ``information``: a buyer's preference, right or background
  fact, not a supplier duty): weight 0, no credit, no blocker, counted as ``out_of_scope``
  with the reason "information only: not a supplier obligation".
- Gate (criticality ``gate``): weight 0, never adds to the score. It is a blocker
  unless its status is ``met`` and, when the catalogue expects evidence, at least one
  current item is linked. The blocker says why: unanswered, not met, partially met,
  not applicable (a gate must be met), no current evidence, or evidence expired on
  DATE (the latest expiry among its expired items), and names the control's clause.
  A gate that stands for certificate preconditions (`register` set, app.domain.gates) is
  decided by the certificate register instead: met when the register meets every one of
  them (status ``met``, the reason names the certificates), and otherwise no blocker of
  its own, because each open precondition is a blocker already, with its clause.
- Any other control: weight 2 if ``high``, else 1.
  - ``not_applicable`` with a non-blank justification leaves the denominator
    (weight 0), counted as ``not_applicable``.
  - ``not_applicable`` with a blank justification is treated as unanswered: weight
    stays, credit 0, reason "not applicable needs a justification".
  - Credit: met 1, partially met 0.5, not met 0, unanswered 0. When the catalogue
    expects evidence, credit is above 0 and no current item is linked, the credit is
    halved (so met earns 0.5 and partially met 0.25).
  - earned = weight x credit.

Totals, per section, per catalogue and overall: possible = sum of weights, earned =
sum of earned, score = round(100 x earned / possible, 1), or 0.0 when possible is 0.
Counts hold met, partially_met, not_met, not_applicable, unanswered and out_of_scope;
gates are counted too, by the same status (a gate marked not applicable without a
justification counts as unanswered).

Evidence linked to an in-scope control (whatever its status) is listed once per item:
``expiring`` when it expires within [today, today + expiring_within_days] (days_left
0..N), ``expired`` when it expired before today (days_left negative). Both list every
linked control id, sorted, and are ordered by expiry date then evidence id. Items are
told apart by evidence_id; the first occurrence gives the title and expiry date.

Sections are keyed by (catalogue, section) and listed in first-seen order. Catalogues
follow the order of `catalogues`, including ones without controls (score 0.0), then
any other catalogue in first-seen order, titled by its id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from app.domain.catalogue import Criticality


class Status(StrEnum):
    MET = "met"
    PARTIALLY_MET = "partially_met"
    NOT_MET = "not_met"
    NOT_APPLICABLE = "not_applicable"


UNANSWERED = "unanswered"
OUT_OF_SCOPE = "out_of_scope"
COUNT_KEYS: tuple[str, ...] = (
    Status.MET.value,
    Status.PARTIALLY_MET.value,
    Status.NOT_MET.value,
    Status.NOT_APPLICABLE.value,
    UNANSWERED,
    OUT_OF_SCOPE,
)
CREDIT: dict[Status, float] = {
    Status.MET: 1.0,
    Status.PARTIALLY_MET: 0.5,
    Status.NOT_MET: 0.0,
}
_GATE_STATUS_REASON: dict[str, str] = {
    UNANSWERED: "unanswered",
    Status.NOT_MET.value: "not met",
    Status.PARTIALLY_MET.value: "partially met (a gate must be met)",
    Status.NOT_APPLICABLE.value: "marked not applicable (a gate must be met)",
}


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    evidence_id: str
    title: str
    expires_on: date | None
    kind: str

    def is_current(self, today: date) -> bool:
        return self.expires_on is None or self.expires_on >= today


@dataclass(frozen=True, slots=True)
class ControlInput:
    """One control of an engagement: its catalogue entry, scoping, answer and linked evidence."""

    control_id: str
    catalogue_id: str
    section_id: str
    section_title: str
    title: str
    criticality: Criticality
    evidence_required: bool
    applicable: bool
    scoping_reason: str
    status: Status | None
    justification: str
    evidence: tuple[EvidenceItem, ...]
    clause: str = ""  # the clause the control transcribes, named by its blocker
    register: RegisterCheck | None = None  # gates only: what the certificate register says


@dataclass(frozen=True, slots=True)
class RegisterCheck:
    """What the certificate register says about a gate that stands for certificate
    preconditions: met (`detail` names the certificates) or not (`detail` says what is open;
    the preconditions' own blockers name it)."""

    met: bool
    detail: str


@dataclass(frozen=True, slots=True)
class CatalogueInfo:
    catalogue_id: str
    title: str


@dataclass(frozen=True, slots=True)
class ControlScore:
    control_id: str
    catalogue_id: str
    section_id: str
    weight: int
    credit: float
    earned: float
    status: str
    reason: str
    title: str = ""
    gate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.control_id,
            "catalogue_id": self.catalogue_id,
            "section_id": self.section_id,
            "title": self.title,
            "gate": self.gate,
            "weight": self.weight,
            "credit": self.credit,
            "earned": self.earned,
            "status": self.status,
            "reason": self.reason,
        }


class BlockerKind(StrEnum):
    """What a blocker is: a gate control, or a precondition of the contract (app.domain.gates)."""

    CONTROL = "control"
    CERTIFICATE = "certificate"
    ISAS = "isas"
    REGISTER_ENTRY = "register_entry"


@dataclass(frozen=True, slots=True)
class Blocker:
    """One reason buyer data may not be processed, with the one clause that creates it. A
    precondition's blocker names the gate control that stands for it in the engagement, if any."""

    control_id: str
    catalogue_id: str
    title: str
    reason: str
    clause: str = ""
    kind: BlockerKind = BlockerKind.CONTROL

    @property
    def message(self) -> str:
        text = self.reason
        if self.kind is BlockerKind.CONTROL:
            text = f"{self.control_id} {self.title}: {text}"
        return f"{text} ({self.clause})" if self.clause else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.control_id,
            "catalogue_id": self.catalogue_id,
            "title": self.title,
            "reason": self.reason,
            "clause": self.clause,
            "kind": self.kind.value,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ExpiringEvidence:
    """An evidence item with an expiry date; days_left is negative once it has expired."""

    evidence_id: str
    title: str
    expires_on: date
    days_left: int
    control_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "evidence_id": self.evidence_id,
            "title": self.title,
            "expires_on": self.expires_on.isoformat(),
            "days_left": self.days_left,
            "control_ids": list(self.control_ids),
        }


def _score_dict(part: SectionScore | CatalogueScore) -> dict[str, Any]:
    """The figures a section and a catalogue share, JSON-ready."""
    return {
        "id": part.id,
        "title": part.title,
        "score": part.score,
        "earned": part.earned,
        "possible": part.possible,
        "counts": dict(part.counts),
    }


@dataclass(frozen=True, slots=True)
class SectionScore:
    catalogue_id: str
    id: str
    title: str
    score: float
    earned: float
    possible: int
    counts: dict[str, int] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return _score_dict(self)


@dataclass(frozen=True, slots=True)
class CatalogueScore:
    id: str
    title: str
    score: float
    earned: float
    possible: int
    counts: dict[str, int] = field(hash=False)
    sections: tuple[SectionScore, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**_score_dict(self), "sections": [s.to_dict() for s in self.sections]}


@dataclass(frozen=True, slots=True)
class Readiness:
    score: float
    earned: float
    possible: int
    counts: dict[str, int] = field(hash=False)
    blockers: tuple[Blocker, ...] = ()
    expiring: tuple[ExpiringEvidence, ...] = ()
    expired: tuple[ExpiringEvidence, ...] = ()
    catalogues: tuple[CatalogueScore, ...] = ()
    controls: tuple[ControlScore, ...] = ()

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    def explain(self) -> tuple[str, ...]:
        """One line per control that carries weight, then the total: how each point was earned."""
        lines = [
            f"{c.control_id}: {_num(c.earned)} of {c.weight} ({c.reason})" for c in self.controls if c.weight
        ]
        lines.append(f"total: {_num(self.earned)} of {self.possible} = {self.score}%")
        return tuple(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "earned": self.earned,
            "possible": self.possible,
            "counts": dict(self.counts),
            "blockers": [b.to_dict() for b in self.blockers],
            "expiring": [e.to_dict() for e in self.expiring],
            "expired": [e.to_dict() for e in self.expired],
            "catalogues": [c.to_dict() for c in self.catalogues],
            "controls": [c.to_dict() for c in self.controls],
        }


def compute(
    controls: Iterable[ControlInput],
    *,
    today: date,
    catalogues: Sequence[CatalogueInfo] = (),
    expiring_within_days: int = 30,
) -> Readiness:
    """Score `controls` as of `today` by the rule in this module's docstring (one pass)."""
    horizon = today + timedelta(days=expiring_within_days)
    overall = _Tally()
    cat_tallies: dict[str, _Tally] = {c.catalogue_id: _Tally() for c in catalogues}
    cat_sections: dict[str, dict[str, _Tally]] = {c.catalogue_id: {} for c in catalogues}
    section_titles: dict[tuple[str, str], str] = {}
    scores: list[ControlScore] = []
    blockers: list[Blocker] = []
    dated: dict[str, tuple[EvidenceItem, date, list[str]]] = {}

    for c in controls:
        cat = cat_tallies.get(c.catalogue_id)
        if cat is None:
            cat = cat_tallies[c.catalogue_id] = _Tally()
            cat_sections[c.catalogue_id] = {}
        sections = cat_sections[c.catalogue_id]
        sec = sections.get(c.section_id)
        if sec is None:
            sec = sections[c.section_id] = _Tally()
            section_titles[(c.catalogue_id, c.section_id)] = c.section_title

        score, blocker = _score(c, today)
        scores.append(score)
        if blocker is not None:
            blockers.append(blocker)
        for tally in (overall, cat, sec):
            tally.add(score)

        if c.applicable:
            for item in c.evidence:
                if item.expires_on is None or item.expires_on > horizon:
                    continue
                entry = dated.get(item.evidence_id)
                if entry is None:
                    dated[item.evidence_id] = (item, item.expires_on, [c.control_id])
                else:
                    entry[2].append(c.control_id)

    titles = {c.catalogue_id: c.title for c in catalogues}
    cat_scores = tuple(
        tally.catalogue(
            cat_id,
            titles.get(cat_id, cat_id),
            tuple(
                sec.section(cat_id, sec_id, section_titles[(cat_id, sec_id)])
                for sec_id, sec in cat_sections[cat_id].items()
            ),
        )
        for cat_id, tally in cat_tallies.items()
    )
    expiring: list[ExpiringEvidence] = []
    expired: list[ExpiringEvidence] = []
    for item, expires_on, control_ids in sorted(dated.values(), key=lambda e: (e[1], e[0].evidence_id)):
        days_left = (expires_on - today).days
        listed = ExpiringEvidence(
            item.evidence_id, item.title, expires_on, days_left, tuple(sorted(set(control_ids)))
        )
        (expiring if days_left >= 0 else expired).append(listed)

    return Readiness(
        score=overall.score,
        earned=overall.earned,
        possible=overall.possible,
        counts=dict(overall.counts),
        blockers=tuple(blockers),
        expiring=tuple(expiring),
        expired=tuple(expired),
        catalogues=cat_scores,
        controls=tuple(scores),
    )


def _score(c: ControlInput, today: date) -> tuple[ControlScore, Blocker | None]:
    gate = c.criticality is Criticality.GATE

    def result(weight: int, credit: float, status: str, reason: str) -> ControlScore:
        return ControlScore(
            c.control_id,
            c.catalogue_id,
            c.section_id,
            weight,
            credit,
            weight * credit,
            status,
            reason,
            c.title,
            gate,
        )

    if not c.applicable:
        return result(0, 0.0, OUT_OF_SCOPE, c.scoping_reason.strip() or "out of scope"), None
    if c.criticality is Criticality.INFORMATION:
        return result(0, 0.0, OUT_OF_SCOPE, "information only: not a supplier obligation"), None

    justified = bool(c.justification.strip())
    if c.status is None or (c.status is Status.NOT_APPLICABLE and not justified):
        status = UNANSWERED
    else:
        status = c.status.value
    missing = _missing_evidence(c, today) if c.evidence_required else None

    if gate:
        if c.register is not None and c.register.met:
            return result(0, 0.0, Status.MET.value, f"gate: met by the register: {c.register.detail}"), None
        if c.register is not None:
            return result(0, 0.0, status, f"gate: not scored; blocker: {c.register.detail}"), None
        if status == Status.MET.value and missing is None:
            return result(0, 0.0, status, "gate: met; not scored"), None
        why = _GATE_STATUS_REASON.get(status) or f"met, but {missing}"
        blocker = Blocker(c.control_id, c.catalogue_id, c.title, why, c.clause)
        return result(0, 0.0, status, f"gate: not scored; blocker: {why}"), blocker

    weight = 2 if c.criticality is Criticality.HIGH else 1
    if status == Status.NOT_APPLICABLE.value:
        return result(0, 0.0, status, f"not applicable: {c.justification.strip()}"), None
    if status == UNANSWERED:
        reason = "not applicable needs a justification" if c.status is not None else "unanswered"
        return result(weight, 0.0, status, reason), None
    credit = CREDIT[Status(status)]
    label = status.replace("_", " ")
    if credit > 0 and missing is not None:
        return result(weight, credit / 2, status, f"{label}, but {missing}: half credit"), None
    return result(weight, credit, status, label), None


def _missing_evidence(c: ControlInput, today: date) -> str | None:
    """None when a current item is linked, else why not."""
    latest: date | None = None
    for item in c.evidence:
        if item.expires_on is None or item.expires_on >= today:
            return None
        if latest is None or item.expires_on > latest:
            latest = item.expires_on
    if latest is None:
        return "no current evidence"
    return f"evidence expired on {latest.isoformat()}"


class _Tally:
    __slots__ = ("counts", "earned", "possible")

    def __init__(self) -> None:
        self.earned = 0.0
        self.possible = 0
        self.counts = dict.fromkeys(COUNT_KEYS, 0)

    def add(self, s: ControlScore) -> None:
        self.earned += s.earned
        self.possible += s.weight
        self.counts[s.status] += 1

    @property
    def score(self) -> float:
        return _percent(self.earned, self.possible)

    def section(self, catalogue_id: str, section_id: str, title: str) -> SectionScore:
        return SectionScore(
            catalogue_id, section_id, title, self.score, self.earned, self.possible, dict(self.counts)
        )

    def catalogue(self, catalogue_id: str, title: str, sections: tuple[SectionScore, ...]) -> CatalogueScore:
        return CatalogueScore(
            catalogue_id, title, self.score, self.earned, self.possible, dict(self.counts), sections
        )


def _percent(earned: float, possible: int) -> float:
    return round(100 * earned / possible, 1) if possible else 0.0


def _num(value: float) -> str:
    return f"{value:g}"
