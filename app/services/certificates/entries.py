"""A certificate as typed in (a page form or an API body, both as text) checked against the
scheme rules of `app.domain.certificates` and the supplier's register: every problem is named by
its field, so a form shows it beside the field and the API returns it under the field's name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.certificates import (
    ITHC_PROVIDERS,
    SCHEME_LABELS,
    Entry,
    Scheme,
    check_entry,
    default_expiry,
)
from app.domain.errors import InvalidInput
from app.models import Certificate
from app.services.certificates.subcontractors import subcontractors

SUPPLIER_HOLDER = "supplier"
TEXT_LIMITS = {"body": 200, "number": 100, "scope": 5000}
DATE_LABELS = {
    "issued_on": "Issue date",
    "expires_on": "Expiry date",
    "next_surveillance_on": "Next surveillance audit date",
    "recertification_on": "Recertification audit date",
}


@dataclass(frozen=True, slots=True)
class CertificateDraft:
    """What the person typed, field by field (dates as YYYY-MM-DD text, empty when left out)."""

    scheme: str
    holder: str = SUPPLIER_HOLDER  # "supplier" or one of the supplier's sub-contractor ids
    body: str = ""
    number: str = ""
    scope: str = ""
    issued_on: str = ""
    expires_on: str = ""
    next_surveillance_on: str = ""
    recertification_on: str = ""
    provider: str = ""


@dataclass(frozen=True, slots=True)
class CertificateInput:
    """A checked entry, ready to store."""

    scheme: Scheme
    subcontractor_id: str | None
    body: str
    number: str
    scope: str
    issued_on: date
    expires_on: date | None
    next_surveillance_on: date | None
    recertification_on: date | None
    provider: str


def _date(
    value: str, field: str, problems: dict[str, str], *, required: bool = False, today: date | None = None
) -> date | None:
    """A certificate date inside the window of app.domain.dates; `today` for a fact (issue)."""
    return dates.read(value, field, DATE_LABELS[field], problems, required=required, not_after=today)


def _basic_ce_issued(session: Session, org_id: str, subcontractor_id: str | None) -> list[date]:
    """Issue dates of the holder's current Cyber Essentials certificates (the Plus window)."""
    query = select(Certificate).where(
        Certificate.supplier_org_id == org_id,
        Certificate.scheme == Scheme.CYBER_ESSENTIALS,
        col(Certificate.withdrawn_at).is_(None),
    )
    return [c.issued_on for c in session.exec(query) if c.subcontractor_id == subcontractor_id]


def check(session: Session, org_id: str, draft: CertificateDraft, *, today: date) -> CertificateInput:
    """Check a draft for the supplier `org_id`; InvalidInput lists every problem by field."""
    problems: dict[str, str] = {}
    try:
        scheme = Scheme(draft.scheme)
    except ValueError:
        problems["scheme"] = "Choose the scheme: " + ", ".join(SCHEME_LABELS.values()) + "."
        scheme = Scheme.OTHER
    holder = draft.holder.strip() or SUPPLIER_HOLDER
    subcontractor_id: str | None = None
    if holder != SUPPLIER_HOLDER:
        if holder not in {s.id for s in subcontractors(session, org_id)}:
            problems["holder"] = "Choose the holder: your organisation or one of your sub-contractors."
        else:
            subcontractor_id = holder
    texts = {
        "body": " ".join(draft.body.split()),
        "number": " ".join(draft.number.split()),
        "scope": draft.scope.strip(),
    }
    for name, limit in TEXT_LIMITS.items():
        if len(texts[name]) > limit:
            problems[name] = f"Keep this under {limit} characters."
    if not texts["body"] and scheme is not Scheme.OTHER:
        problems["body"] = (
            "Enter the CHECK or CREST provider that did the test."
            if scheme is Scheme.IT_HEALTH_CHECK
            else "Enter the certification body."
        )
    issued = _date(draft.issued_on, "issued_on", problems, required=True, today=today)
    expires = _date(draft.expires_on, "expires_on", problems)
    surveillance = _date(draft.next_surveillance_on, "next_surveillance_on", problems)
    recert = _date(draft.recertification_on, "recertification_on", problems)
    provider = draft.provider.strip().upper()
    if provider and provider not in ITHC_PROVIDERS:
        problems["provider"] = "The provider scheme is CHECK or CREST."
    if issued is not None and "scheme" not in problems:
        entry = Entry(scheme, issued, expires, surveillance, recert, provider)
        basic = _basic_ce_issued(session, org_id, subcontractor_id)
        for name, message in check_entry(entry, today=today, basic_ce_issued=basic).items():
            problems.setdefault(name, message)
    if problems or issued is None:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    return CertificateInput(
        scheme=scheme,
        subcontractor_id=subcontractor_id,
        body=texts["body"],
        number=texts["number"],
        scope=texts["scope"],
        issued_on=issued,
        expires_on=expires or default_expiry(scheme, issued),
        next_surveillance_on=surveillance,
        recertification_on=recert,
        provider=provider,
    )
