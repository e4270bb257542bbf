"""Preconditions for processing buyer data, as each contract states them (data, not code).

An engagement is subject to the preconditions of its workflow profile (the contract it runs
under) and of each catalogue in its scope, and to no others: a Call Off Schedule 7 engagement
never meets a Schedule 2.4 rule. Every precondition names the one clause that creates it, and
every blocker it raises names that clause.

Schedule 2.4 (profile "schedule-2-4", seed 001_7d77124de15f7d1c.txt):

- para 6.1(a): the Supplier is certified to ISO/IEC 27001 by a UKAS-approved body (or sits within
  the scope of such a certificate), and para 6.1(b): it holds Cyber Essentials PLUS; a copy of each
  goes to the Authority before the Supplier may receive, store or Process Authority Data;
- para 6.2: each Higher Risk Sub-contractor holds ISO/IEC 27001 (UKAS) or Cyber Essentials PLUS,
  a copy given before that sub-contractor may receive, store or Process Authority Data;
- para 4.2(a): the Information Management System processes no Authority Data until an IT Health
  Check of the Supplier System by a CHECK or CREST Service Provider has been procured;
- para 4.2(b): nor until the Authority has issued an Information Security Approval Statement;
- para 5.5(a): a change in the Required Changes Register not implemented by its agreed date means
  processing stops until the Default is remedied, unless the Authority directs otherwise in
  writing (a recorded direction lifts it: app.services.deadlines.overdue_entries);
- para 6.3 is no precondition: each Medium Risk Sub-contractor must hold at least Cyber
  Essentials, but the paragraph sets no point in time (unlike 6.1 and 6.2, nothing "before"
  data) and asks for no copy. It is a standing Certification Requirement: shown wherever the
  register is, never a blocker; losing it is a para 6.6 notice (app.domain.deadlines).

Call Off Schedule 7 (profile "call-off-schedule-7", seed 002_e7f4c131fc912dac.txt): none. In
neither form does a paragraph bar processing before the ISMS or the Security Management Plan is
Approved (long form 3.1, 3.6, 4.1, 4.3; short form 4.3.1, 4.3.2), and the schedule asks for no
certificate. Its one "prior to receipt" condition, Annex 1 para 1.1 (specific guidance before
SECRET or TOP SECRET information), is the catalogue's gate control CO7-A1-1.1 and binds only when
the scoping says such information is handled.

CPS Security Policy (catalogue "cps-security-policy", seed 000_e15c6a3b40bf7abb.txt Annex 1), when
the engagement includes it:

- 1.5: an IT contract requires Cyber Essentials Plus;
- 1.6: the Service Provider holds Cyber Essentials+ and ISO 27001 (or the equivalent certifications)
  from contract award, maintained for the whole contract and submitted to the CPS each year
  (two preconditions, one per certificate, both citing 1.6).
  Neither is worded "before data": they hold from award and throughout, so an engagement without
  them is out of line from its start, and the catalogue marks both as gates.

Gate controls: each catalogue's controls of criticality ``gate`` are its own conditions
(`GATE_CONTROLS`, checked against the TOML by the tests). A gate control of a contract's own
catalogue (`CONTRACT_CATALOGUES`) binds only engagements under that contract's profile; under
another it is scored like a ``high`` control and is never a blocker (`binds`). A gate control that
stands for certificate preconditions (`Precondition.controls`) is decided by the certificate
register: met when a current entry of an accepted scheme is on record for every holder the
preconditions ask it of (the control's row names the certificates), never by a file linked by
hand; while a precondition is open, its own blocker is the control's. A precondition whose tier
has no holder on the register's list (no Higher Risk Sub-contractor listed) raises no blocker and
leaves its gate control to its own answer and evidence.

Certificate preconditions are read from the register alone, so they are the same for every page
that shows them (readiness, the supplier's register, the buyer's portfolio). A certificate counts
while neither expired nor withdrawn (app.domain.certificates). Not checked, for want of data:
whether the body is UKAS-approved, the ISO/IEC 27001 edition, and whether a copy actually reached
the buyer before data (the register entry, shared with the buyer's advisors, stands for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from app.domain.certificates import Held, Holder, Scheme, Tier, matching, shortfall
from app.domain.readiness import Blocker, BlockerKind, RegisterCheck

SEED_000 = "000_e15c6a3b40bf7abb.txt"
SEED_001 = "001_7d77124de15f7d1c.txt"
SEED_002 = "002_e7f4c131fc912dac.txt"


class Kind(StrEnum):
    CERTIFICATE = "certificate"  # every holder of a tier holds a counting certificate of a scheme
    ISAS = "isas"  # an ISAS has been issued (and the engagement not terminated)
    REGISTER_ENTRIES = "register_entries"  # no Required Changes Register entry past its agreed date


class Effect(StrEnum):
    """When a precondition bites, as its clause words it."""

    BEFORE_DATA = "before_data"  # held before buyer data is received or processed
    THROUGHOUT = "throughout"  # held from contract award and for the whole contract
    CEASE = "cease"  # once it happens, processing stops until it is remedied
    STANDING = "standing"  # a continuing duty with no point in time: shown, never a blocker


@dataclass(frozen=True, slots=True)
class Precondition:
    key: str
    clause: str  # exactly one clause
    source: str  # the seed file
    title: str  # short, for lists
    requires: str  # what the clause asks, in words
    kind: Kind
    effect: Effect
    tier: Tier | None = None  # certificates: whose
    schemes: tuple[Scheme, ...] = ()  # certificates: any one of these
    controls: tuple[str, ...] = ()  # gate controls that stand for it in the catalogues

    @property
    def blocks(self) -> bool:
        return self.effect is not Effect.STANDING


S24 = "Schedule 2.4"
ISO, CEP, CE, ITHC = (
    Scheme.ISO27001,
    Scheme.CYBER_ESSENTIALS_PLUS,
    Scheme.CYBER_ESSENTIALS,
    Scheme.IT_HEALTH_CHECK,
)

SCHEDULE_2_4: tuple[Precondition, ...] = (
    Precondition(
        "s24-6.1a",
        f"{S24} para 6.1(a)",
        SEED_001,
        "ISO/IEC 27001 certification of the supplier",
        "The supplier is certified to ISO/IEC 27001 by a UKAS-approved body, with a copy to the "
        "Authority before it receives, stores or processes Authority Data.",
        Kind.CERTIFICATE,
        Effect.BEFORE_DATA,
        Tier.SUPPLIER,
        (ISO,),
        ("S24-6.1",),
    ),
    Precondition(
        "s24-6.1b",
        f"{S24} para 6.1(b)",
        SEED_001,
        "Cyber Essentials Plus of the supplier",
        "The supplier holds Cyber Essentials Plus, with a copy to the Authority before it receives, "
        "stores or processes Authority Data.",
        Kind.CERTIFICATE,
        Effect.BEFORE_DATA,
        Tier.SUPPLIER,
        (CEP,),
        ("S24-6.1",),
    ),
    Precondition(
        "s24-6.2",
        f"{S24} para 6.2",
        SEED_001,
        "Certification of each Higher Risk Sub-contractor",
        "Each Higher Risk Sub-contractor holds ISO/IEC 27001 (UKAS-approved body) or Cyber Essentials "
        "Plus, with a copy to the Authority before that sub-contractor receives, stores or processes "
        "Authority Data.",
        Kind.CERTIFICATE,
        Effect.BEFORE_DATA,
        Tier.HIGHER_RISK,
        (ISO, CEP),
        ("S24-6.2",),
    ),
    Precondition(
        "s24-6.3",
        f"{S24} para 6.3",
        SEED_001,
        "Cyber Essentials of each Medium Risk Sub-contractor",
        "Each Medium Risk Sub-contractor holds at least Cyber Essentials (Plus also counts, ISO/IEC "
        "27001 does not). No time is set and no copy is asked for: a standing requirement, not a "
        "precondition for processing.",
        Kind.CERTIFICATE,
        Effect.STANDING,
        Tier.MEDIUM_RISK,
        (CE, CEP),
    ),
    Precondition(
        "s24-4.2a",
        f"{S24} para 4.2(a)",
        SEED_001,
        "IT Health Check by a CHECK or CREST provider",
        "No Authority Data is processed until an IT Health Check of the Supplier System by a CHECK "
        "or CREST Service Provider has been procured.",
        Kind.CERTIFICATE,
        Effect.BEFORE_DATA,
        Tier.SUPPLIER,
        (ITHC,),
        ("S24-4.2",),
    ),
    Precondition(
        "s24-4.2b",
        f"{S24} para 4.2(b)",
        SEED_001,
        "Information Security Approval Statement",
        "No Authority Data is processed until the Authority has issued an Information Security "
        "Approval Statement (para 4.5(a)).",
        Kind.ISAS,
        Effect.BEFORE_DATA,
    ),
    Precondition(
        "s24-5.5a",
        f"{S24} para 5.5(a)",
        SEED_001,
        "Required Changes Register entries implemented on time",
        "A change in the Required Changes Register not implemented by its agreed date stops "
        "processing until the Default is remedied, unless the Authority directs otherwise in writing.",
        Kind.REGISTER_ENTRIES,
        Effect.CEASE,
    ),
)
CALL_OFF_SCHEDULE_7: tuple[Precondition, ...] = ()  # see the module docstring: none in seed 002

CPS_SECURITY_POLICY: tuple[Precondition, ...] = (
    Precondition(
        "cps-1.5",
        "CPS Security Policy 1.5",
        SEED_000,
        "Cyber Essentials Plus for an IT contract",
        "The CPS requires Cyber Essentials Plus for IT contracts and critically dependent IT systems.",
        Kind.CERTIFICATE,
        Effect.THROUGHOUT,
        Tier.SUPPLIER,
        (CEP,),
        ("CPS-1.5",),
    ),
    Precondition(
        "cps-1.6-cep",
        "CPS Security Policy 1.6",
        SEED_000,
        "Cyber Essentials Plus held from award",
        "The supplier holds Cyber Essentials Plus from contract award, maintains it for the whole "
        "contract and submits it to the CPS each year.",
        Kind.CERTIFICATE,
        Effect.THROUGHOUT,
        Tier.SUPPLIER,
        (CEP,),
        ("CPS-1.6",),
    ),
    Precondition(
        "cps-1.6-iso",
        "CPS Security Policy 1.6",
        SEED_000,
        "ISO/IEC 27001 held from award",
        "The supplier holds ISO 27001 (or the equivalent certifications) from contract award, "
        "maintains it for the whole contract and submits it to the CPS each year.",
        Kind.CERTIFICATE,
        Effect.THROUGHOUT,
        Tier.SUPPLIER,
        (ISO,),
        ("CPS-1.6",),
    ),
)

PROFILE_PRECONDITIONS: dict[str, tuple[Precondition, ...]] = {
    "schedule-2-4": SCHEDULE_2_4,
    "call-off-schedule-7": CALL_OFF_SCHEDULE_7,
}
CATALOGUE_PRECONDITIONS: dict[str, tuple[Precondition, ...]] = {
    "cps-security-policy": CPS_SECURITY_POLICY,
}
# Each catalogue's gate controls (criticality "gate" in controls/*.toml), by catalogue.
GATE_CONTROLS: dict[str, tuple[str, ...]] = {
    "schedule-2-4": ("S24-4.2", "S24-6.1", "S24-6.2"),
    "call-off-schedule-7": ("CO7-A1-1.1",),
    "cps-security-policy": ("CPS-1.5", "CPS-1.6"),
}
# Catalogues that transcribe one contract: their gates bind only engagements under its profile.
CONTRACT_CATALOGUES: dict[str, str] = {
    "schedule-2-4": "schedule-2-4",
    "call-off-schedule-7": "call-off-schedule-7",
}


def preconditions(profile_id: str, catalogue_ids: Iterable[str]) -> tuple[Precondition, ...]:
    """The engagement's preconditions: its profile's, then each in-scope catalogue's, in order."""
    found = list(PROFILE_PRECONDITIONS.get(profile_id, ()))
    for catalogue_id in catalogue_ids:
        found += CATALOGUE_PRECONDITIONS.get(catalogue_id, ())
    return tuple(dict.fromkeys(found))


def binds(catalogue_id: str, profile_id: str) -> bool:
    """A gate of this catalogue binds an engagement under this profile (contract catalogues only
    their own contract's engagements)."""
    owner = CONTRACT_CATALOGUES.get(catalogue_id)
    return owner is None or owner == profile_id


def control_catalogue(control_id: str) -> str | None:
    """The catalogue a declared gate control belongs to."""
    return next((cat for cat, ids in GATE_CONTROLS.items() if control_id in ids), None)


def controls_for_certificate(
    profile_id: str, catalogue_ids: Iterable[str], tier: Tier, scheme: Scheme
) -> list[tuple[Precondition, str]]:
    """(precondition, gate control) pairs a certificate of `scheme` held by a holder of `tier`
    helps to meet in an engagement under `profile_id` with `catalogue_ids` in scope: where its file
    is linked automatically. Only controls of an in-scope catalogue whose gates bind."""
    in_scope = set(catalogue_ids)
    pairs = []
    for pre in preconditions(profile_id, in_scope):
        if pre.kind is not Kind.CERTIFICATE or pre.tier is not tier or scheme not in pre.schemes:
            continue
        for control_id in pre.controls:
            catalogue_id = control_catalogue(control_id)
            if catalogue_id in in_scope and binds(catalogue_id, profile_id):
                pairs.append((pre, control_id))
    return pairs


@dataclass(frozen=True, slots=True)
class Facts:
    """What the preconditions are judged on. `isas_issued` and `overdue` are None where a view
    looks at certificates only (the supplier's register, the portfolio)."""

    holders: tuple[Holder, ...]
    held: tuple[Held, ...]
    isas_issued: bool | None = None
    overdue: tuple[tuple[str, date], ...] | None = None  # (entry, its agreed date) past that date


@dataclass(frozen=True, slots=True)
class Open:
    """A precondition not met (for certificates: by one holder)."""

    precondition: Precondition
    reason: str

    @property
    def clause(self) -> str:
        return self.precondition.clause

    @property
    def message(self) -> str:
        return f"{self.reason} ({self.clause})"


KIND_OF_BLOCKER = {
    Kind.CERTIFICATE: BlockerKind.CERTIFICATE,
    Kind.ISAS: BlockerKind.ISAS,
    Kind.REGISTER_ENTRIES: BlockerKind.REGISTER_ENTRY,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    open: tuple[Open, ...]
    met_by_register: dict[str, str] = field(default_factory=dict)  # gate control -> certificates
    held_open: frozenset[str] = frozenset()  # gate controls with an open precondition

    @property
    def blocking(self) -> tuple[Open, ...]:
        return tuple(o for o in self.open if o.precondition.blocks)

    @property
    def standing(self) -> tuple[Open, ...]:
        """Open standing requirements (para 6.3): shown, never blockers."""
        return tuple(o for o in self.open if not o.precondition.blocks)

    def check(self, control_id: str) -> RegisterCheck | None:
        """What the register says about a gate control; None: it stands for no precondition
        the register can decide, so its own answer and evidence decide it."""
        if control_id in self.held_open:
            clauses = dict.fromkeys(o.clause for o in self.open if control_id in o.precondition.controls)
            return RegisterCheck(False, f"the certificate register does not meet {', '.join(clauses)}")
        if control_id in self.met_by_register:
            return RegisterCheck(True, self.met_by_register[control_id])
        return None

    def blockers(self, in_scope: Mapping[str, str]) -> tuple[Blocker, ...]:
        """The blocking preconditions as readiness blockers; `in_scope` maps the engagement's
        binding gate controls to their catalogue (a blocker names the one that stands for it)."""
        out = []
        for item in self.blocking:
            control_id = next((c for c in item.precondition.controls if c in in_scope), "")
            out.append(
                Blocker(
                    control_id,
                    in_scope.get(control_id, ""),
                    item.precondition.title,
                    item.reason,
                    item.clause,
                    KIND_OF_BLOCKER[item.precondition.kind],
                )
            )
        return tuple(out)


NO_ISAS = "No Information Security Approval Statement has been issued for this engagement"


def assess(pres: Sequence[Precondition], facts: Facts, today: date) -> Outcome:
    """Judge `pres` on `today`: what is open (supplier first, then sub-contractors by name, in
    declaration order), and for each gate control standing for certificate preconditions whether
    the register meets all of them."""
    opened: list[Open] = []
    described: dict[str, list[str]] = {}
    held_open: set[str] = set()
    undecided: set[str] = set()
    holders = sorted(facts.holders, key=lambda h: (h.tier is not Tier.SUPPLIER, h.name.lower()))
    for pre in pres:
        if pre.kind is Kind.CERTIFICATE:
            mine = [h for h in holders if h.tier is pre.tier]
            if not mine:
                undecided.update(pre.controls)
            for holder in mine:
                gap = shortfall(pre.schemes, pre.clause, holder, facts.held, today)
                if gap is not None:
                    opened.append(Open(pre, gap.reason))
                    held_open.update(pre.controls)
                    continue
                best = matching(pre.schemes, holder, facts.held, today)[0]
                text = best.describe()
                if holder.tier is not Tier.SUPPLIER:
                    text = f"{holder.name}: {text}"
                for control_id in pre.controls:
                    described.setdefault(control_id, []).append(text)
        elif pre.kind is Kind.ISAS and facts.isas_issued is False:
            opened.append(Open(pre, NO_ISAS))
        elif pre.kind is Kind.REGISTER_ENTRIES:
            for subject, due_on in facts.overdue or ():
                reason = (
                    f"Must cease processing buyer data: {subject} was due on {due_on.isoformat()}"
                    " and is not implemented"
                )
                opened.append(Open(pre, reason))
    met = {
        control_id: "; ".join(dict.fromkeys(texts))
        for control_id, texts in described.items()
        if control_id not in held_open and control_id not in undecided
    }
    return Outcome(tuple(opened), met, frozenset(held_open))
