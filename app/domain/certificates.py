"""Certificates: what a valid entry looks like, when one is current, and the certification gates.

Entry rules (checked when a certificate is added or edited):

- the expiry date is after the issue date, and the issue date is not in the future;
- Cyber Essentials and Cyber Essentials Plus certificates are valid for 12 months from
  issue (reference/cyber-essentials.md CE-CERT-01, CE-CERT-02): the expiry defaults to 12
  months after issue and may not be later;
- Cyber Essentials Plus must be completed within 3 months of the holder's Cyber Essentials
  certification (CE-CERT-06): when the holder has a Cyber Essentials certificate on record,
  the Plus issue date must fall within 3 months after one of them;
- ISO/IEC 27001 certificates run a 3-year cycle (reference/iso27001.md section 5): expiry
  defaults to 3 years after issue and may not be later; the next surveillance audit falls
  after issue and before expiry; the recertification audit falls after issue and no later
  than expiry;
- an IT Health Check is done by a CHECK or a CREST Service Provider (Schedule 2.4 para 4.2(a)
  and the definitions of those terms).

State on a given day: "withdrawn" once withdrawn; "expired" from its expiry date on; "expiring"
when it expires within 30 days; otherwise "current" (no expiry date: current).

Gates (a certificate counts only when current or expiring, i.e. not expired or withdrawn):

- the supplier holds ISO/IEC 27001 (Schedule 2.4 para 6.1(a); CPS Security Policy 1.6) and
  Cyber Essentials Plus (para 6.1(b); CPS Security Policy 1.5, 1.6);
- each Higher Risk Sub-contractor holds ISO/IEC 27001 or Cyber Essentials Plus (para 6.2);
- each Medium Risk Sub-contractor holds at least Cyber Essentials (para 6.3; Plus also counts);
- the supplier has an IT Health Check by a CHECK or CREST provider on record (paras 4.2(a), 7.1).

Each unmet gate is a blocker named with the holder, the scheme, why (missing, or expired on a
date) and the clause.

Months are added with app.domain.dates.add_months, which saturates at 31 December 9999, so a
certificate stored with an extreme date never makes a page or a reminder run fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.domain.dates import add_months  # saturating: a stored 9999 date never overflows

EXPIRING_WITHIN_DAYS = 30
CE_PLUS_WINDOW_MONTHS = 3


class Scheme(StrEnum):
    CYBER_ESSENTIALS = "cyber_essentials"
    CYBER_ESSENTIALS_PLUS = "cyber_essentials_plus"
    ISO27001 = "iso27001"
    IT_HEALTH_CHECK = "it_health_check"
    OTHER = "other"


class Tier(StrEnum):
    SUPPLIER = "supplier"
    HIGHER_RISK = "higher_risk"
    MEDIUM_RISK = "medium_risk"


SCHEME_LABELS = {
    Scheme.CYBER_ESSENTIALS: "Cyber Essentials",
    Scheme.CYBER_ESSENTIALS_PLUS: "Cyber Essentials Plus",
    Scheme.ISO27001: "ISO/IEC 27001",
    Scheme.IT_HEALTH_CHECK: "IT Health Check",
    Scheme.OTHER: "Other",
}
TIER_LABELS = {
    Tier.SUPPLIER: "Supplier",
    Tier.HIGHER_RISK: "Higher Risk Sub-contractor",
    Tier.MEDIUM_RISK: "Medium Risk Sub-contractor",
}
ITHC_PROVIDERS = ("CHECK", "CREST")
VALIDITY_MONTHS = {Scheme.CYBER_ESSENTIALS: 12, Scheme.CYBER_ESSENTIALS_PLUS: 12, Scheme.ISO27001: 36}
STATES = ("current", "expiring", "expired", "withdrawn")


@dataclass(frozen=True, slots=True)
class Entry:
    """A certificate as typed in, before it is stored."""

    scheme: Scheme
    issued_on: date
    expires_on: date | None = None
    next_surveillance_on: date | None = None
    recertification_on: date | None = None
    provider: str = ""


def default_expiry(scheme: Scheme, issued_on: date) -> date | None:
    months = VALIDITY_MONTHS.get(scheme)
    return add_months(issued_on, months) if months else None


def check_entry(entry: Entry, *, today: date, basic_ce_issued: Sequence[date] = ()) -> dict[str, str]:
    """Problems with an entry, by field (empty when it is fine). `basic_ce_issued`: the issue
    dates of the holder's Cyber Essentials certificates on record (for the Plus window)."""
    problems: dict[str, str] = {}
    label = SCHEME_LABELS[entry.scheme]
    if entry.issued_on > today:
        problems["issued_on"] = "The issue date cannot be in the future."
    expires = entry.expires_on or default_expiry(entry.scheme, entry.issued_on)
    if expires is not None and expires <= entry.issued_on:
        problems["expires_on"] = "The expiry date must be after the issue date."
    months = VALIDITY_MONTHS.get(entry.scheme)
    if months and expires is not None and expires > add_months(entry.issued_on, months):
        years = "12 months" if months == 12 else "3 years"
        problems["expires_on"] = (
            f"A {label} certificate is valid for {years} from issue: the expiry date cannot be "
            f"later than {add_months(entry.issued_on, months).isoformat()}."
        )
    in_window = any(d <= entry.issued_on <= add_months(d, CE_PLUS_WINDOW_MONTHS) for d in basic_ce_issued)
    if entry.scheme is Scheme.CYBER_ESSENTIALS_PLUS and basic_ce_issued and not in_window:
        problems["issued_on"] = (
            "Cyber Essentials Plus must be completed within 3 months of the Cyber Essentials certification "
            f"(the holder's Cyber Essentials certificate was issued on {max(basic_ce_issued).isoformat()})."
        )
    if entry.scheme is Scheme.ISO27001 and expires is not None:
        surveillance = entry.next_surveillance_on
        if surveillance is not None and not entry.issued_on < surveillance < expires:
            problems["next_surveillance_on"] = (
                "The next surveillance audit must fall after the issue date and before the expiry date."
            )
        recert = entry.recertification_on
        if recert is not None and not entry.issued_on < recert <= expires:
            problems["recertification_on"] = (
                "The recertification audit must fall after the issue date and no later than the expiry date."
            )
    elif entry.next_surveillance_on is not None or entry.recertification_on is not None:
        problems["next_surveillance_on"] = (
            "Surveillance and recertification dates apply to ISO/IEC 27001 only."
        )
    if entry.scheme is Scheme.IT_HEALTH_CHECK and entry.provider not in ITHC_PROVIDERS:
        problems["provider"] = "An IT Health Check must be done by a CHECK or a CREST Service Provider."
    if entry.scheme is not Scheme.IT_HEALTH_CHECK and entry.provider:
        problems["provider"] = "A provider (CHECK or CREST) applies to IT Health Checks only."
    return problems


def state_on(expires_on: date | None, today: date, *, withdrawn: bool = False) -> str:
    if withdrawn:
        return "withdrawn"
    if expires_on is None:
        return "current"
    if today >= expires_on:
        return "expired"
    return "expiring" if (expires_on - today).days <= EXPIRING_WITHIN_DAYS else "current"


@dataclass(frozen=True, slots=True)
class Holder:
    """The supplier itself or one of its sub-contractors."""

    key: str  # "" for the supplier, else the sub-contractor id
    name: str
    tier: Tier


@dataclass(frozen=True, slots=True)
class Held:
    """A certificate on record, as the gates see it."""

    holder_key: str
    scheme: Scheme
    expires_on: date | None
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Requirement:
    schemes: tuple[Scheme, ...]  # any one of these satisfies it
    clause: str


SUPPLIER_REQUIREMENTS = (
    Requirement((Scheme.ISO27001,), "Schedule 2.4 para 6.1(a); CPS Security Policy 1.6"),
    Requirement((Scheme.CYBER_ESSENTIALS_PLUS,), "Schedule 2.4 para 6.1(b); CPS Security Policy 1.5, 1.6"),
    Requirement((Scheme.IT_HEALTH_CHECK,), "Schedule 2.4 paras 4.2(a), 7.1"),
)
REQUIREMENTS: dict[Tier, tuple[Requirement, ...]] = {
    Tier.SUPPLIER: SUPPLIER_REQUIREMENTS,
    Tier.HIGHER_RISK: (
        Requirement((Scheme.ISO27001, Scheme.CYBER_ESSENTIALS_PLUS), "Schedule 2.4 para 6.2"),
    ),
    Tier.MEDIUM_RISK: (
        Requirement((Scheme.CYBER_ESSENTIALS, Scheme.CYBER_ESSENTIALS_PLUS), "Schedule 2.4 para 6.3"),
    ),
}


@dataclass(frozen=True, slots=True)
class Blocker:
    holder: str
    schemes: tuple[Scheme, ...]
    clause: str
    expired_on: date | None  # None: nothing on record

    @property
    def message(self) -> str:
        names = " or ".join(SCHEME_LABELS[s] for s in self.schemes)
        noun = (
            "IT Health Check by a CHECK or CREST provider"
            if self.schemes == (Scheme.IT_HEALTH_CHECK,)
            else (f"{names} certificate")
        )
        if self.expired_on is None:
            return f"No current {noun} on record for {self.holder} ({self.clause})"
        on = self.expired_on.isoformat()
        return f"{noun[0].upper()}{noun[1:]} for {self.holder} expired on {on} ({self.clause})"


def gates(holders: Iterable[Holder], held: Iterable[Held], today: date) -> list[Blocker]:
    """Every certification gate not met on `today`, supplier first, in a stable order."""
    by_holder: dict[str, list[Held]] = {}
    for item in held:
        by_holder.setdefault(item.holder_key, []).append(item)
    blockers: list[Blocker] = []
    ordered = sorted(holders, key=lambda h: (h.tier is not Tier.SUPPLIER, h.name.lower()))
    for holder in ordered:
        mine = by_holder.get(holder.key, [])
        for requirement in REQUIREMENTS[holder.tier]:
            matching = [h for h in mine if h.scheme in requirement.schemes and not h.withdrawn]
            if any(state_on(h.expires_on, today) != "expired" for h in matching):
                continue
            expired = [h.expires_on for h in matching if h.expires_on is not None]
            blockers.append(
                Blocker(
                    holder.name, requirement.schemes, requirement.clause, max(expired) if expired else None
                )
            )
    return blockers
