"""The certificate register: entries, sub-contractors, who may see them, and the certification gates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.access import SUPPLIER_ROLES, Actor, Role
from app.domain.certificates import (
    ITHC_PROVIDERS,
    REQUIREMENTS,
    SCHEME_LABELS,
    STATES,
    TIER_LABELS,
    Blocker,
    Entry,
    Held,
    Holder,
    Scheme,
    Tier,
    check_entry,
    default_expiry,
    gates,
    state_on,
)
from app.domain.errors import Denied, InvalidInput, NotFound, Refused
from app.models import Certificate, Engagement, Evidence, Organisation, Subcontractor, utcnow

FIELDS = (
    "scheme",
    "holder",
    "body",
    "number",
    "scope",
    "issued_on",
    "expires_on",
    "next_surveillance_on",
    "recertification_on",
    "provider",
)
SUPPLIER_HOLDER = "supplier"


@dataclass(frozen=True, slots=True)
class CertificateInput:
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


@dataclass(frozen=True, slots=True)
class Row:
    """A certificate with its holder and state, as pages and the API show it."""

    certificate: Certificate
    holder: Holder
    state: str

    @property
    def scheme_label(self) -> str:
        return SCHEME_LABELS[self.certificate.scheme]


# --- who may see what -------------------------------------------------------------------------


def buyer_supplier_ids(session: Session, buyer_org_id: str) -> set[str]:
    query = select(Engagement.supplier_org_id).where(Engagement.buyer_org_id == buyer_org_id)
    return set(session.exec(query))


def visible_supplier_ids(session: Session, actor: Actor) -> set[str]:
    """Suppliers whose register the actor may read: their own, or those they are buyer to."""
    if actor.role in SUPPLIER_ROLES:
        return {actor.org_id}
    if actor.role is Role.BUYER_ADVISOR:
        return buyer_supplier_ids(session, actor.org_id)
    return set()


def readable(session: Session, actor: Actor, certificate_id: str) -> Certificate:
    row = session.get(Certificate, certificate_id)
    if row is None:
        raise NotFound("No such certificate.")
    if row.supplier_org_id not in visible_supplier_ids(session, actor):
        raise Refused(
            "No such certificate.", action="certificate_viewed", object_type="certificate", object_id=row.id
        )
    return row


def managed(session: Session, actor: Actor, certificate_id: str) -> Certificate:
    """A certificate the actor may change: supplier leads, their own organisation's only."""
    row = session.get(Certificate, certificate_id)
    if row is None:
        raise NotFound("No such certificate.")
    if actor.role is not Role.SUPPLIER_LEAD or row.supplier_org_id != actor.org_id:
        raise Refused(
            "No such certificate.", action="certificate_managed", object_type="certificate", object_id=row.id
        )
    return row


def require_lead(actor: Actor) -> None:
    if actor.role is not Role.SUPPLIER_LEAD:
        raise Denied(
            "Only the supplier's security lead manages certificates.",
            action="certificate_managed",
            object_type="certificate",
            object_id="",
        )


# --- holders ----------------------------------------------------------------------------------


def subcontractors(session: Session, org_id: str) -> list[Subcontractor]:
    query = select(Subcontractor).where(
        Subcontractor.supplier_org_id == org_id, col(Subcontractor.removed_at).is_(None)
    )
    return list(session.exec(query.order_by(col(Subcontractor.name))))


def holders(session: Session, org_id: str) -> list[Holder]:
    org = session.get(Organisation, org_id)
    supplier = Holder("", org.name if org else "the supplier", Tier.SUPPLIER)
    return [supplier, *(Holder(s.id, s.name, s.tier) for s in subcontractors(session, org_id))]


def add_subcontractor(session: Session, actor: Actor, *, name: str, tier: str) -> Subcontractor:
    require_lead(actor)
    problems: dict[str, str] = {}
    name = " ".join(name.split())
    if not 1 <= len(name) <= 200:
        problems["name"] = "Enter the sub-contractor's name (up to 200 characters)."
    if tier not in (Tier.HIGHER_RISK, Tier.MEDIUM_RISK):
        problems["tier"] = "Choose the risk tier: Higher Risk or Medium Risk Sub-contractor."
    elif any(s.name.lower() == name.lower() for s in subcontractors(session, actor.org_id)):
        problems["name"] = f"{name} is already on your list of sub-contractors."
    if problems:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    row = Subcontractor(supplier_org_id=actor.org_id, name=name, tier=Tier(tier))
    session.add(row)
    session.flush()
    return row


def remove_subcontractor(session: Session, actor: Actor, subcontractor_id: str) -> Subcontractor:
    row = session.get(Subcontractor, subcontractor_id)
    if row is None:
        raise NotFound("No such sub-contractor.")
    if row.supplier_org_id != actor.org_id or actor.role is not Role.SUPPLIER_LEAD:
        raise Refused(
            "No such sub-contractor.",
            action="subcontractor_removed",
            object_type="subcontractor",
            object_id=row.id,
        )
    if row.removed_at is not None:
        raise InvalidInput("That sub-contractor was already removed.")
    row.removed_at = utcnow()
    session.add(row)
    session.flush()
    return row


# --- entries ----------------------------------------------------------------------------------


DATE_LABELS = {
    "issued_on": "Issue date",
    "expires_on": "Expiry date",
    "next_surveillance_on": "Next surveillance audit date",
    "recertification_on": "Recertification audit date",
}


def _date(
    value: str, field: str, problems: dict[str, str], *, required: bool = False, today: date | None = None
) -> date | None:
    """A certificate date inside the window of app.domain.dates; `today` for a fact (issue)."""
    return dates.read(value, field, DATE_LABELS[field], problems, required=required, not_after=today)


def parse(session: Session, org_id: str, form: Mapping[str, str], *, today: date) -> CertificateInput:
    """Check a submitted certificate against the scheme rules; InvalidInput lists every problem."""
    problems: dict[str, str] = {}

    def get(name: str) -> str:
        return str(form.get(name, "") or "")

    try:
        scheme = Scheme(get("scheme"))
    except ValueError:
        problems["scheme"] = "Choose the scheme: " + ", ".join(SCHEME_LABELS.values()) + "."
        scheme = Scheme.OTHER
    holder = get("holder").strip() or SUPPLIER_HOLDER
    subcontractor_id: str | None = None
    if holder != SUPPLIER_HOLDER:
        known = {s.id for s in subcontractors(session, org_id)}
        if holder not in known:
            problems["holder"] = "Choose the holder: your organisation or one of your sub-contractors."
        else:
            subcontractor_id = holder
    texts = {"body": 200, "number": 100, "scope": 5000}
    values = {name: " ".join(get(name).split()) if name != "scope" else get(name).strip() for name in texts}
    for name, limit in texts.items():
        if len(values[name]) > limit:
            problems[name] = f"Keep this under {limit} characters."
    if not values["body"] and scheme is not Scheme.OTHER:
        problems["body"] = (
            "Enter the CHECK or CREST provider that did the test."
            if scheme is Scheme.IT_HEALTH_CHECK
            else "Enter the certification body."
        )
    issued = _date(get("issued_on"), "issued_on", problems, required=True, today=today)
    expires = _date(get("expires_on"), "expires_on", problems)
    surveillance = _date(get("next_surveillance_on"), "next_surveillance_on", problems)
    recert = _date(get("recertification_on"), "recertification_on", problems)
    provider = get("provider").strip().upper()
    if provider and provider not in ITHC_PROVIDERS:
        problems["provider"] = "The provider scheme is CHECK or CREST."
    if issued is not None and "scheme" not in problems:
        entry = Entry(scheme, issued, expires, surveillance, recert, provider)
        basic = [
            c.issued_on
            for c in session.exec(
                select(Certificate).where(
                    Certificate.supplier_org_id == org_id,
                    Certificate.scheme == Scheme.CYBER_ESSENTIALS,
                    col(Certificate.withdrawn_at).is_(None),
                )
            )
            if c.subcontractor_id == subcontractor_id
        ]
        for name, message in check_entry(entry, today=today, basic_ce_issued=basic).items():
            problems.setdefault(name, message)
    if problems or issued is None:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    return CertificateInput(
        scheme=scheme,
        subcontractor_id=subcontractor_id,
        body=values["body"],
        number=values["number"],
        scope=values["scope"],
        issued_on=issued,
        expires_on=expires or default_expiry(scheme, issued),
        next_surveillance_on=surveillance,
        recertification_on=recert,
        provider=provider,
    )


def _apply(row: Certificate, data: CertificateInput) -> None:
    row.scheme, row.subcontractor_id = data.scheme, data.subcontractor_id
    row.body, row.number, row.scope = data.body, data.number, data.scope
    row.issued_on, row.expires_on = data.issued_on, data.expires_on
    row.next_surveillance_on, row.recertification_on = data.next_surveillance_on, data.recertification_on
    row.provider = data.provider


def create(
    session: Session, actor: Actor, data: CertificateInput, *, evidence_id: str | None = None
) -> Certificate:
    require_lead(actor)
    row = Certificate(
        supplier_org_id=actor.org_id,
        created_by_id=actor.user_id,
        issued_on=data.issued_on,
        scheme=data.scheme,
    )
    _apply(row, data)
    row.evidence_id = _own_evidence(session, actor, evidence_id)
    session.add(row)
    session.flush()
    return row


def update(
    session: Session,
    actor: Actor,
    row: Certificate,
    data: CertificateInput,
    *,
    evidence_id: str | None = None,
) -> Certificate:
    require_lead(actor)
    if row.withdrawn_at is not None:
        raise InvalidInput("A withdrawn certificate cannot be changed; add a new one.")
    _apply(row, data)
    if evidence_id:
        row.evidence_id = _own_evidence(session, actor, evidence_id)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def withdraw(session: Session, actor: Actor, row: Certificate) -> Certificate:
    require_lead(actor)
    if row.withdrawn_at is not None:
        raise InvalidInput("This certificate was already withdrawn.")
    row.withdrawn_at = row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def _own_evidence(session: Session, actor: Actor, evidence_id: str | None) -> str | None:
    if not evidence_id:
        return None
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.supplier_org_id != actor.org_id:
        raise InvalidInput(
            "Choose a file from your organisation's evidence library.", details={"evidence_id": "unknown"}
        )
    return evidence.id


def register_file(
    session: Session,
    actor: Actor,
    *,
    sha256: str,
    size: int,
    media_type: str,
    file_name: str,
    title: str,
    expires_on: date | None,
    supersedes: str | None = None,
) -> Evidence:
    """Record an uploaded certificate file in the supplier's evidence library (a new version of
    the certificate's previous file, when it had one)."""
    evidence = Evidence(
        supplier_org_id=actor.org_id,
        family_id="",
        title=title[:200],
        kind="certificate",
        file_name=file_name,
        media_type=media_type,
        size=size,
        sha256=sha256,
        expires_on=expires_on,
        uploaded_by_id=actor.user_id,
    )
    old = session.get(Evidence, supersedes) if supersedes else None
    if old is not None and old.superseded_at is None and old.supplier_org_id == actor.org_id:
        evidence.family_id, evidence.version = old.family_id, old.version + 1
        old.superseded_at = utcnow()
        session.add(old)
    else:
        evidence.family_id = evidence.id
    session.add(evidence)
    session.flush()
    return evidence


# --- reading ----------------------------------------------------------------------------------


def rows(
    session: Session, org_ids: set[str], *, today: date, holder: str = "", state: str = "", scheme: str = ""
) -> list[Row]:
    """Certificates of the given suppliers with holder and state; `holder` is "supplier", a
    sub-contractor id or a holder name; `state` one of current, expiring, expired, withdrawn."""
    if not org_ids:
        return []
    if state and state not in STATES:
        raise InvalidInput(f"State must be one of {', '.join(STATES)}.", details={"state": state})
    if scheme and scheme not in set(Scheme):
        raise InvalidInput(f"Scheme must be one of {', '.join(Scheme)}.", details={"scheme": scheme})
    query = select(Certificate).where(col(Certificate.supplier_org_id).in_(org_ids))
    if scheme:
        query = query.where(Certificate.scheme == Scheme(scheme))
    certificates = list(session.exec(query.order_by(col(Certificate.issued_on).desc())))
    by_key: dict[tuple[str, str], Holder] = {}
    for org_id in org_ids:
        for each in holders(session, org_id):
            by_key[(org_id, each.key)] = each
    removed = {
        s.id: s
        for s in session.exec(select(Subcontractor).where(col(Subcontractor.supplier_org_id).in_(org_ids)))
    }
    out = []
    for c in certificates:
        key = c.subcontractor_id or ""
        h = by_key.get((c.supplier_org_id, key))
        if h is None:
            gone = removed.get(key)
            h = Holder(
                key, f"{gone.name} (removed)" if gone else "unknown", gone.tier if gone else Tier.MEDIUM_RISK
            )
        s = state_on(c.expires_on, today, withdrawn=c.withdrawn_at is not None)
        if state and s != state:
            continue
        wanted = holder.strip().lower()
        if wanted and not (
            (wanted == SUPPLIER_HOLDER and h.tier is Tier.SUPPLIER)
            or wanted == h.key
            or wanted == h.name.lower()
        ):
            continue
        out.append(Row(c, h, s))
    return out


def blockers_for_supplier(session: Session, org_id: str, *, today: date) -> list[Blocker]:
    query = select(Certificate).where(Certificate.supplier_org_id == org_id)
    held = [
        Held(c.subcontractor_id or "", c.scheme, c.expires_on, c.withdrawn_at is not None)
        for c in session.exec(query)
    ]
    return gates(holders(session, org_id), held, today)


def certificate_blockers(session: Session, engagement: Engagement, *, today: date) -> list[str]:
    """Named certification blockers for the engagement's supplier and its sub-contractors."""
    return [b.message for b in blockers_for_supplier(session, engagement.supplier_org_id, today=today)]


@dataclass(frozen=True, slots=True)
class PortfolioLine:
    holder: Holder
    requirement: str  # e.g. "ISO/IEC 27001 or Cyber Essentials Plus"
    clause: str
    state: str  # current, expiring, expired, missing
    expires_on: date | None
    certificate_id: str | None


@dataclass(frozen=True, slots=True)
class SupplierPortfolio:
    organisation: Organisation
    engagements: list[Engagement]
    lines: list[PortfolioLine]
    blockers: list[str]
    certificates: list[Row]


def portfolio(session: Session, actor: Actor, *, today: date) -> list[SupplierPortfolio]:
    """For a buyer advisor: each supplier they are buyer to, every required certificate's state."""
    if actor.role is not Role.BUYER_ADVISOR:
        raise Denied(
            "The certificate portfolio is for buyer security advisors.",
            action="portfolio",
            object_type="page",
            object_id="/portfolio",
        )
    engagements = list(
        session.exec(
            select(Engagement)
            .where(Engagement.buyer_org_id == actor.org_id)
            .order_by(col(Engagement.reference))
        )
    )
    out = []
    for org_id in dict.fromkeys(e.supplier_org_id for e in engagements):
        org = session.get(Organisation, org_id)
        if org is None:
            continue
        register = rows(session, {org_id}, today=today)
        lines = []
        for holder in holders(session, org_id):
            for requirement in REQUIREMENTS[holder.tier]:
                matching = [
                    r
                    for r in register
                    if r.holder.key == holder.key
                    and r.certificate.scheme in requirement.schemes
                    and r.state != "withdrawn"
                ]
                best = max(matching, key=lambda r: r.certificate.expires_on or date.max, default=None)
                lines.append(
                    PortfolioLine(
                        holder,
                        " or ".join(SCHEME_LABELS[s] for s in requirement.schemes),
                        requirement.clause,
                        best.state if best else "missing",
                        best.certificate.expires_on if best else None,
                        best.certificate.id if best else None,
                    )
                )
        blockers = [b.message for b in blockers_for_supplier(session, org_id, today=today)]
        mine = [e for e in engagements if e.supplier_org_id == org_id]
        out.append(SupplierPortfolio(org, mine, lines, blockers, register))
    return out


def to_json(row: Row) -> dict[str, object]:
    c = row.certificate

    def iso(d: date | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "id": c.id,
        "supplier_org_id": c.supplier_org_id,
        "scheme": c.scheme.value,
        "scheme_label": SCHEME_LABELS[c.scheme],
        "holder": {
            "id": row.holder.key or None,
            "name": row.holder.name,
            "tier": row.holder.tier.value,
            "tier_label": TIER_LABELS[row.holder.tier],
        },
        "body": c.body,
        "number": c.number,
        "scope": c.scope,
        "issued_on": iso(c.issued_on),
        "expires_on": iso(c.expires_on),
        "next_surveillance_on": iso(c.next_surveillance_on),
        "recertification_on": iso(c.recertification_on),
        "provider": c.provider or None,
        "evidence_id": c.evidence_id,
        "state": row.state,
        "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
    }


def row_for(session: Session, certificate: Certificate, *, today: date) -> Row:
    found = [
        r
        for r in rows(session, {certificate.supplier_org_id}, today=today)
        if r.certificate.id == certificate.id
    ]
    return found[0]


def demo_certificates(session: Session, supplier_org_id: str, today: date) -> int:
    """The demo supplier's register, once: current ISO/IEC 27001 (surveillance due soon), CE Plus and
    IT Health Check; a Higher Risk Sub-contractor whose CE Plus has expired (a named blocker) and a
    Medium Risk one with Cyber Essentials."""
    if session.exec(select(Certificate.id).where(Certificate.supplier_org_id == supplier_org_id)).first():
        return 0
    hosting = Subcontractor(
        supplier_org_id=supplier_org_id, name="Harbour Cloud Hosting Ltd", tier=Tier.HIGHER_RISK
    )
    printing = Subcontractor(
        supplier_org_id=supplier_org_id, name="Minster Print and Post Ltd", tier=Tier.MEDIUM_RISK
    )
    session.add_all([hosting, printing])
    session.flush()
    rows: list[tuple[Scheme, str | None, str, int, int | None, dict[str, Any]]] = [
        # scheme, holder, body, issued days ago, expires in days (None: scheme default), extra
        (
            Scheme.ISO27001,
            None,
            "BSI (UKAS 0003)",
            1075,
            20,
            {"recertification_on": today + timedelta(days=10)},
        ),
        (Scheme.CYBER_ESSENTIALS, None, "IASME Consortium", 70, None, {}),
        (Scheme.CYBER_ESSENTIALS_PLUS, None, "IASME Consortium", 60, None, {}),
        (Scheme.IT_HEALTH_CHECK, None, "Redcliffe Security (CREST)", 120, None, {"provider": "CREST"}),
        (Scheme.CYBER_ESSENTIALS_PLUS, hosting.id, "IASME Consortium", 375, -10, {}),
        (Scheme.CYBER_ESSENTIALS, printing.id, "IASME Consortium", 300, None, {}),
    ]
    for number, (scheme, holder, body, ago, expires_in, extra) in enumerate(rows, start=1):
        issued = today - timedelta(days=ago)
        session.add(
            Certificate(
                supplier_org_id=supplier_org_id,
                subcontractor_id=holder,
                scheme=scheme,
                body=body,
                number=f"DEMO-{number:04d}",
                scope="All systems used to deliver the Secure Multimedia Transfer service.",
                issued_on=issued,
                expires_on=today + timedelta(days=expires_in)
                if expires_in is not None
                else default_expiry(scheme, issued),
                created_by_id="demo",
                **extra,
            )
        )
    session.flush()
    return len(rows) + 2
