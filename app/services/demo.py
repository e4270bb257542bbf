"""Demo data: a buyer, a fictional supplier, their people and one engagement.

Modelled on contract PR 2023 004 between the Crown Prosecution Service and a
supplier (seed 000_e15c6a3b40bf7abb.txt), effective 30 July 2024. Loading twice
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from app.domain.access import Role
from app.models import (
    Engagement,
    EngagementCatalogue,
    Organisation,
    OrgKind,
    User,
    utcnow,
)
from app.security import Keys
from app.services.accounts import enrol_for_script, totp_secret

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


def load_demo(session: Session, keys: Keys, *, available_catalogues: set[str]) -> DemoResult:
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
    return DemoResult(created=created, users=tuple(users), engagement_id=engagement.id)
