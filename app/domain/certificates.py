"""Certificates: what a valid entry looks like, when one is current, and what each Certification
Requirement of Schedule 2.4 para 6 asks of each holder.

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

The Certification Requirements (`REQUIREMENTS`, Schedule 2.4 para 6 and nothing else; one
clause each). A certificate meets one when it is of a scheme the requirement accepts, held by
the holder itself, and neither expired nor withdrawn on the day:

- the supplier: ISO/IEC 27001 (para 6.1(a)) and Cyber Essentials Plus (para 6.1(b));
- each Higher Risk Sub-contractor: ISO/IEC 27001 or Cyber Essentials Plus (para 6.2);
- each Medium Risk Sub-contractor: at least Cyber Essentials, Plus also counts; ISO/IEC 27001
  does not, being another scheme (para 6.3).

Which of these bind an engagement, and whether one is a precondition for processing buyer data,
is the engagement's contract's to say: app.domain.gates declares that per workflow profile and
catalogue, with the IT Health Check (para 4.2(a)) and the CPS Security Policy's own requirements.
`shortfall` names what a holder lacks against one requirement: missing, or expired on a date.

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


class CertificateState(StrEnum):
    """A certificate's state on a given day (`state_on`)."""

    CURRENT = "current"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Coverage(StrEnum):
    """How a required certificate stands for one holder (the portfolio): the state of the best
    certificate that meets it (withdrawn ones do not), or missing when none does."""

    CURRENT = "current"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    MISSING = "missing"


STATES: tuple[CertificateState, ...] = tuple(CertificateState)


def coverage(best: CertificateState | None) -> Coverage:
    """The coverage given by the best matching certificate's state (None: nothing on record)."""
    if best is None or best is CertificateState.WITHDRAWN:
        return Coverage.MISSING
    return Coverage(best.value)


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


def state_on(expires_on: date | None, today: date, *, withdrawn: bool = False) -> CertificateState:
    if withdrawn:
        return CertificateState.WITHDRAWN
    if expires_on is None:
        return CertificateState.CURRENT
    if today >= expires_on:
        return CertificateState.EXPIRED
    if (expires_on - today).days <= EXPIRING_WITHIN_DAYS:
        return CertificateState.EXPIRING
    return CertificateState.CURRENT


@dataclass(frozen=True, slots=True)
class Holder:
    """The supplier itself or one of its sub-contractors."""

    key: str  # "" for the supplier, else the sub-contractor id
    name: str
    tier: Tier


@dataclass(frozen=True, slots=True)
class Held:
    """A certificate on record, as the requirements see it."""

    holder_key: str
    scheme: Scheme
    expires_on: date | None
    withdrawn: bool = False
    number: str = ""
    body: str = ""

    def counts_on(self, today: date) -> bool:
        """It meets a requirement on `today`: neither withdrawn nor expired (expiring still counts)."""
        return not self.withdrawn and state_on(self.expires_on, today) is not CertificateState.EXPIRED

    def describe(self) -> str:
        """How a page names it: scheme, number, body or provider, and expiry."""
        parts = [SCHEME_LABELS[self.scheme]]
        if self.number:
            parts.append(self.number)
        text = " ".join(parts) + (f" ({self.body})" if self.body else "")
        return text + (f", expires {self.expires_on.isoformat()}" if self.expires_on else "")


@dataclass(frozen=True, slots=True)
class Requirement:
    schemes: tuple[Scheme, ...]  # any one of these satisfies it
    clause: str


# The Certification Requirements of Schedule 2.4 para 6, by tier (one clause each). The IT Health
# Check (para 4.2(a)) is no Certification Requirement: app.domain.gates declares it.
REQUIREMENTS: dict[Tier, tuple[Requirement, ...]] = {
    Tier.SUPPLIER: (
        Requirement((Scheme.ISO27001,), "Schedule 2.4 para 6.1(a)"),
        Requirement((Scheme.CYBER_ESSENTIALS_PLUS,), "Schedule 2.4 para 6.1(b)"),
    ),
    Tier.HIGHER_RISK: (
        Requirement((Scheme.ISO27001, Scheme.CYBER_ESSENTIALS_PLUS), "Schedule 2.4 para 6.2"),
    ),
    Tier.MEDIUM_RISK: (
        Requirement((Scheme.CYBER_ESSENTIALS, Scheme.CYBER_ESSENTIALS_PLUS), "Schedule 2.4 para 6.3"),
    ),
}


def requirement_label(schemes: Sequence[Scheme]) -> str:
    """What a requirement asks for, in words ("ISO/IEC 27001 or Cyber Essentials Plus")."""
    if tuple(schemes) == (Scheme.IT_HEALTH_CHECK,):
        return "IT Health Check by a CHECK or CREST provider"
    return " or ".join(SCHEME_LABELS[s] for s in schemes)


@dataclass(frozen=True, slots=True)
class Blocker:
    """What one holder lacks against one requirement, with the clause that asks for it."""

    holder: str
    schemes: tuple[Scheme, ...]
    clause: str
    expired_on: date | None  # None: nothing on record

    @property
    def reason(self) -> str:
        noun = requirement_label(self.schemes)
        if self.schemes != (Scheme.IT_HEALTH_CHECK,):
            noun += " certificate"
        if self.expired_on is None:
            return f"No current {noun} on record for {self.holder}"
        return f"{noun[0].upper()}{noun[1:]} for {self.holder} expired on {self.expired_on.isoformat()}"

    @property
    def message(self) -> str:
        return f"{self.reason} ({self.clause})"


def matching(schemes: Sequence[Scheme], holder: Holder, held: Iterable[Held], today: date) -> list[Held]:
    """The holder's certificates of one of `schemes` that count on `today`, longest-lived first."""
    found = [h for h in held if h.holder_key == holder.key and h.scheme in schemes and h.counts_on(today)]
    return sorted(found, key=lambda h: h.expires_on or date.max, reverse=True)


def shortfall(
    schemes: Sequence[Scheme], clause: str, holder: Holder, held: Iterable[Held], today: date
) -> Blocker | None:
    """None when the holder has a certificate of one of `schemes` that counts on `today`; else
    what it lacks: nothing on record, or (the latest expiry among its expired ones) expired."""
    mine = [h for h in held if h.holder_key == holder.key and h.scheme in schemes and not h.withdrawn]
    if any(h.counts_on(today) for h in mine):
        return None
    expired = [h.expires_on for h in mine if h.expires_on is not None]
    return Blocker(holder.name, tuple(schemes), clause, max(expired) if expired else None)
