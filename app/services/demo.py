"""Demo data: a buyer, a fictional supplier, their people and one engagement.

Modelled on contract PR 2023 004 between the Crown Prosecution Service and a
supplier (seed 000_e15c6a3b40bf7abb.txt), effective 30 July 2024. Loading twice
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, select

from app import clock
from app.adapters.crypto import Keys
from app.adapters.storage import EvidenceStore
from app.domain.access import Actor, Role
from app.domain.catalogue import Library
from app.models import (
    Engagement,
    EngagementCatalogue,
    Organisation,
    OrgKind,
    User,
    utcnow,
)
from app.services.accounts import enrol_for_script, totp_secret
from app.services.demo_certificates import demo_certificates
from app.services.demo_plan import load_demo_plan
from app.services.engagements import catalogue_ids
from app.services.evidence import EvidenceMeta, StoredFile, register
from app.services.responses import ResponseInput, responses_by_control, set_response

BUYER = "Crown Prosecution Service"
SUPPLIER = "Northwind Secure Transfer Ltd"
OPERATOR = "Attest Operations"
DEMO_USERS: tuple[tuple[str, str, str, Role], ...] = (
    ("admin@attest.example", "Ada Admin", OPERATOR, Role.ADMINISTRATOR),
    ("advisor@cps.example", "Brian Advisor", BUYER, Role.BUYER_ADVISOR),
    ("lead@northwind.example", "Sam Lead", SUPPLIER, Role.SUPPLIER_LEAD),
    ("contributor@northwind.example", "Chris Contributor", SUPPLIER, Role.SUPPLIER_CONTRIBUTOR),
)
DEMO_CATALOGUES = (
    "cps-security-policy",
    "schedule-2-4",
    "cyber-essentials",
    "iso27001-2022",
    "ncsc-cloud-principles",
)


DEMO_PASSWORD = "demo password for attest"  # noqa: S105 - published demo credential, development only


@dataclass(frozen=True)
class DemoResult:
    created: int
    users: tuple[tuple[str, str, str, str], ...]  # email, name, role, TOTP secret
    engagement_id: str


def demo_pdf(title: str, lines: list[str]) -> bytes:
    """A small, valid one-page PDF with the given text (demo evidence is generated, not copied)."""
    text = " ".join(
        f"BT /F1 12 Tf 72 {740 - 18 * i} Td ({line.replace('(', '[').replace(')', ']')}) Tj ET"
        for i, line in enumerate([title, *lines])
    ).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


DEMO_ANSWERS: tuple[tuple[str, str, str], ...] = (
    ("CPS-1.5", "met", "Cyber Essentials Plus certified; certificate attached."),
    ("CPS-1.6", "met", "ISO/IEC 27001 and Cyber Essentials Plus held since award; copies sent yearly."),
    ("S24-6.1", "met", "ISO/IEC 27001 (UKAS-accredited body) and Cyber Essentials Plus are current."),
    ("CPS-1.1", "met", "Our security management follows GovS 007; the board reviews it each quarter."),
    ("CPS-1.2", "met", "Security planning is part of every service change; see the change procedure."),
    (
        "CPS-1.3",
        "partially_met",
        "Access to buyer premises is controlled; the visitor log is being automated.",
    ),
    ("CPS-2.1", "met", "Mail is handled at OFFICIAL; OFFICIAL-SENSITIVE items follow the handling guide."),
    ("CPS-3.1", "met", "All staff hold BPSS; those with privileged access hold SC."),
    ("CPS-3.3", "not_met", "Annual refresher training for 2024 is scheduled but not complete."),
    ("CPS-5.7", "met", "Leavers are disabled by HR integration within hours; privileged access is logged."),
    ("S24-3.5", "met", "Our designated security contact is Sam Lead (CISSP)."),
    ("ISO-A.5.1", "met", "The information security policy is approved by the board and reviewed each year."),
    ("ISO-A.8.8", "partially_met", "Critical patches go out within 7 days; reporting on others is manual."),
    ("CE-FW-01", "met", "Every device sits behind managed firewalls; laptops run the OS firewall."),
    ("CE-UAC-06", "met", "MFA is enforced for all users and administrators of every cloud service."),
)
# The gaps' planned changes and how many days from today each is due (the pre-submission check
# asks every partially met or not met answer for both).
DEMO_PLANNED: dict[str, tuple[str, int]] = {
    "CPS-1.3": ("Replace the paper visitor log with the badge system's electronic log.", 45),
    "CPS-3.3": ("Every member of staff completes the 2024 security refresher course.", 60),
    "ISO-A.8.8": ("Report patch times for every severity from the endpoint manager each month.", 90),
}
DEMO_EVIDENCE: tuple[tuple[str, str, int | None, tuple[str, ...]], ...] = (
    # title, kind, days until expiry from today (None: no expiry), controls
    ("Information security policy v4", "policy", None, ("CPS-1.1", "ISO-A.5.1")),
    ("ISO/IEC 27001 certificate", "certificate", 20, ("CPS-1.6", "S24-6.1")),
    ("Cyber Essentials Plus certificate", "certificate", 300, ("CPS-1.5", "CE-FW-01", "CE-UAC-06")),
    ("Joiners, movers and leavers procedure", "procedure", None, ("CPS-5.7",)),
)


def load_demo(
    session: Session,
    keys: Keys,
    *,
    available_catalogues: set[str],
    library: Library | None = None,
    store: EvidenceStore | None = None,
    today: date | None = None,
) -> DemoResult:
    """Create whatever part of the demo data is missing; return what is there."""
    created = 0
    orgs: dict[str, Organisation] = {}
    for name, kind in (
        (OPERATOR, OrgKind.OPERATOR),
        (BUYER, OrgKind.BUYER),
        (SUPPLIER, OrgKind.SUPPLIER),
    ):
        org = session.exec(select(Organisation).where(Organisation.name == name)).first()
        if org is None:
            org = Organisation(name=name, kind=kind)
            session.add(org)
            created += 1
        orgs[name] = org
    session.flush()
    users: list[tuple[str, str, str, str]] = []
    for email, full_name, org_name, role in DEMO_USERS:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            user = User(email=email, name=full_name, organisation_id=orgs[org_name].id, role=role)
            session.add(user)
            session.flush()
            enrol_for_script(session, keys, user, DEMO_PASSWORD, now=utcnow())
            created += 1
        users.append((email, full_name, role.value, totp_secret(keys, user)))
    engagement = session.exec(
        select(Engagement).where(
            Engagement.buyer_org_id == orgs[BUYER].id, Engagement.reference == "PR 2023 004"
        )
    ).first()
    if engagement is None:
        engagement = Engagement(
            reference="PR 2023 004",
            title="Provision of Secure Multimedia Transfer",
            buyer_org_id=orgs[BUYER].id,
            supplier_org_id=orgs[SUPPLIER].id,
            effective_on=date(2024, 7, 30),
            workflow_profile="schedule-2-4",
        )
        session.add(engagement)
        session.flush()
        for catalogue_id in DEMO_CATALOGUES:
            if catalogue_id in available_catalogues:
                session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id=catalogue_id))
        created += 1
    session.flush()
    if library is not None and store is not None:
        created += _demo_assessment(session, library, store, engagement, today or clock.today())
        created += load_demo_plan(session, library, engagement, today or clock.today())
    created += demo_certificates(session, orgs[SUPPLIER].id, today or clock.today())
    return DemoResult(created=created, users=tuple(users), engagement_id=engagement.id)


def _demo_assessment(
    session: Session, library: Library, store: EvidenceStore, engagement: Engagement, today: date
) -> int:
    """Part-answer the demo engagement and attach evidence, once."""
    if responses_by_control(session, engagement.id):
        return 0
    lead = session.exec(select(User).where(User.email == "lead@northwind.example")).one()
    actor = Actor(lead.id, lead.organisation_id, lead.role)
    wanted = set(catalogue_ids(session, engagement.id))
    for control_id, status, statement in DEMO_ANSWERS:
        control = library.controls.get(control_id)
        if control is None or control.catalogue_id not in wanted:
            continue
        set_response(
            session,
            library,
            engagement,
            actor,
            control_id,
            ResponseInput(
                status=status,
                statement=statement,
                owner_id=lead.id,
                planned_change=DEMO_PLANNED[control_id][0] if control_id in DEMO_PLANNED else "",
                target_date=(today + timedelta(days=DEMO_PLANNED[control_id][1])).isoformat()
                if control_id in DEMO_PLANNED
                else None,
            ),
        )
    for title, kind, days, controls in DEMO_EVIDENCE:
        data = demo_pdf(
            title, ["Northwind Secure Transfer Ltd", "Demonstration evidence generated by Attest."]
        )
        with store.begin(filename=f"{title}.pdf") as upload:
            upload.write(data)
            stored = upload.finish()
        usable = [c for c in controls if (ctl := library.controls.get(c)) and ctl.catalogue_id in wanted]
        register(
            session,
            engagement,
            actor,
            StoredFile(stored.key, stored.size, stored.media_type or "application/pdf", f"{title}.pdf"),
            EvidenceMeta(title=title, kind=kind),
            usable,
            effective_on=today - timedelta(days=45),
            expires_on=today + timedelta(days=days) if days is not None else None,
        )
    return len(DEMO_ANSWERS) + len(DEMO_EVIDENCE)
