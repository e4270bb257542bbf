"""Plain factory functions for tests: organisations, users, engagements, signed-in clients."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.adapters.crypto import Keys, keyed_hash, totp_code
from app.db import session_scope
from app.http.auth import session_cookie_name, timeouts
from app.models import Engagement, EngagementCatalogue, Organisation, OrgKind, User, utcnow
from app.services import accounts, sessions

PASSWORD = "a long test passphrase"
_counter = itertools.count(1)


@dataclass
class Person:
    user: User
    organisation: Organisation
    totp_secret: str
    password: str = PASSWORD

    @property
    def email(self) -> str:
        return self.user.email

    def code(self, at: float | None = None) -> str:
        return totp_code(self.totp_secret, time.time() if at is None else at)


def make_org(engine: Engine, kind: str = "supplier", name: str | None = None) -> Organisation:
    with session_scope(engine, write=True) as session:
        org = accounts.create_organisation(
            session, name=name or f"{kind.title()} {next(_counter)}", kind=kind
        )
        session.commit()
        return org


ROLE_KIND = {
    "supplier_lead": "supplier",
    "supplier_contributor": "supplier",
    "buyer_advisor": "buyer",
    "administrator": "operator",
}


def make_person(
    engine: Engine, keys: Keys, role: str, org: Organisation | None = None, email: str | None = None
) -> Person:
    org = org or make_org(engine, ROLE_KIND[role])
    with session_scope(engine, write=True) as session:
        user = accounts.create_user(
            session,
            email=email or f"{role}.{next(_counter)}@example.com",
            name=role.replace("_", " ").title(),
            organisation_id=org.id,
            role=role,
        )
        secret = accounts.enrol_for_script(session, keys, user, PASSWORD, now=utcnow())
        session.commit()
        return Person(user, org, secret)


def make_engagement(engine: Engine, buyer: Organisation, supplier: Organisation) -> Engagement:
    with session_scope(engine, write=True) as session:
        engagement = Engagement(
            reference=f"PR {next(_counter)}",
            title="Secure transfer",
            buyer_org_id=buyer.id,
            supplier_org_id=supplier.id,
            effective_on=date(2024, 7, 30),
            workflow_profile="schedule-2-4",
        )
        session.add(engagement)
        session.flush()
        session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id="cps-security-policy"))
        session.commit()
        return engagement


def csrf_token(app: FastAPI, client: TestClient) -> str:
    """Make sure the client has a CSRF cookie and return the matching form token."""
    name = "__Host-attest_csrf" if app.state.settings.secure_cookies else "attest_csrf"
    if name not in client.cookies:
        client.get("/healthz")
    return keyed_hash(app.state.keys.csrf, client.cookies[name])


def sign_in(app: FastAPI, client: TestClient, person: Person) -> TestClient:
    """Give `client` a full session for `person` without the sign-in pages (tested elsewhere)."""
    settings = app.state.settings
    with session_scope(app.state.engine, write=True) as session:
        token = sessions.start_session(
            session, person.user, mfa_passed=True, now=utcnow(), timeouts=timeouts(settings)
        )
        session.commit()
    client.cookies.set(session_cookie_name(settings), token)
    client.headers["X-CSRF-Token"] = csrf_token(app, client)  # as htmx sends it from the page
    return client


def kind(value: str) -> OrgKind:
    return OrgKind(value)


def make_evidence(
    app: FastAPI,
    engagement: Engagement,
    person: Person,
    *,
    data: bytes = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
    control_ids: tuple[str, ...] = ("CPS-1.1",),
    title: str = "Policy",
    expires_on: str = "",
) -> str:
    """Store bytes and register them as the supplier's evidence linked to controls; returns the id."""
    from datetime import date as date_type

    from app.domain.access import Actor
    from app.services import evidence as evidence_service

    store = app.state.store
    with store.begin(filename="policy.pdf") as upload:
        upload.write(data)
        media_type = upload.sniff() or "application/pdf"
        stored = upload.finish()
    actor = Actor(person.user.id, person.user.organisation_id, person.user.role)
    with session_scope(app.state.engine, write=True) as session:
        row = evidence_service.register(
            session,
            engagement,
            actor,
            evidence_service.StoredFile(stored.key, stored.size, media_type, "policy.pdf"),
            evidence_service.EvidenceMeta(title=title, kind="policy"),
            list(control_ids),
            effective_on=None,
            expires_on=date_type.fromisoformat(expires_on) if expires_on else None,
        )
        session.commit()
        return row.id


def make_subcontractor(engine: Engine, supplier: Organisation, name: str, tier: str = "higher_risk") -> str:
    from app.domain.certificates import Tier
    from app.models import Subcontractor

    with session_scope(engine, write=True) as session:
        row = Subcontractor(supplier_org_id=supplier.id, name=name, tier=Tier(tier))
        session.add(row)
        session.commit()
        return row.id


def make_certificate(
    engine: Engine,
    supplier: Organisation,
    scheme: str,
    *,
    issued_on: date = date(2025, 6, 1),
    expires_on: date | None = None,
    subcontractor_id: str | None = None,
    provider: str = "",
    created_by_id: str = "factory",
) -> str:
    """A certificate row as stored (no entry checks: tests use it to set up any state)."""
    from app.domain.certificates import Scheme, default_expiry
    from app.models import Certificate

    with session_scope(engine, write=True) as session:
        row = Certificate(
            supplier_org_id=supplier.id,
            subcontractor_id=subcontractor_id,
            scheme=Scheme(scheme),
            body="IASME" if scheme != "it_health_check" else "Pen Test Partners",
            number=f"CERT-{next(_counter)}",
            issued_on=issued_on,
            expires_on=expires_on or default_expiry(Scheme(scheme), issued_on),
            provider=provider or ("CREST" if scheme == "it_health_check" else ""),
            created_by_id=created_by_id,
        )
        session.add(row)
        session.commit()
        return row.id


def make_decided_submission(
    engine: Engine, engagement: Engagement, *, approved: bool = False, decided: bool = True
) -> str:
    """A submitted plan (version 1), decided unless `decided` is false, straight into the tables."""
    from app.domain.submissions import canonical, fingerprint
    from app.models import Decision, PlanCase, Submission

    data = {"engagement": {"id": engagement.id}, "responses": [], "risks": [], "register": [], "roles": []}
    with session_scope(engine, write=True) as session:
        submission = Submission(
            engagement_id=engagement.id,
            version=1,
            cycle=1,
            snapshot=canonical(data).decode(),
            sha256=fingerprint(data),
            officer_name="Dana Chief",
            officer_role="COO",
            submitted_by_id="factory",
            submitted_on=date(2024, 9, 10),
        )
        session.add(submission)
        session.flush()
        if decided:
            session.add(
                Decision(
                    submission_id=submission.id,
                    engagement_id=engagement.id,
                    number=f"{'ISAS' if approved else 'RN'}-2024-{next(_counter):04d}",
                    approved=approved,
                    reasons="" if approved else "Incomplete.",
                    advisor_id="factory",
                    advisor_name="Alex Advisor",
                    advisor_role="Security advisor",
                    decided_on=date(2024, 9, 20),
                )
            )
        session.add(
            PlanCase(
                engagement_id=engagement.id,
                state=("approved" if approved else "rejected") if decided else "submitted",
                cycle=1,
                rejections=0 if approved else 1,
            )
        )
        session.commit()
        return submission.id


def make_risk(engine: Engine, engagement: Engagement) -> str:
    from app.models import Risk

    with session_scope(engine, write=True) as session:
        risk = Risk(
            engagement_id=engagement.id,
            title="Data loss",
            likelihood=3,
            impact=4,
            residual_likelihood=1,
            residual_impact=2,
            updated_by_id="factory",
        )
        session.add(risk)
        session.commit()
        return risk.id


def make_register_entry(engine: Engine, engagement: Engagement) -> str:
    from app.models import RegisterEntry

    with session_scope(engine, write=True) as session:
        entry = RegisterEntry(
            engagement_id=engagement.id, title="Patch gateway", source="manual", updated_by_id="factory"
        )
        session.add(entry)
        session.commit()
        return entry.id
