"""Tenant isolation: every route that takes an object id, for every role, own and other organisation.

Cross-tenant requests get 404, leak nothing, and leave exactly one `denied` audit event.
A meta-test fails when a route is added without a place here (or in PUBLIC / REFERENCE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.adapters.crypto import Keys
from app.db import session_scope
from app.models import AuditEvent, Engagement, EngagementCatalogue, Organisation, User, utcnow
from app.services import sessions
from tests.conftest import Snapshots
from tests.factories import (
    Person,
    csrf_token,
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    make_register_entry,
    make_risk,
    sign_in,
)

PUBLIC = {
    "home:index",
    "approvals:verify",
    "health:alive",
    "health:ready",
    "health:metrics",  # its own bearer token (ATTEST_METRICS_TOKEN), never a session
    "auth:sign-in",
    "auth:sign-in-submit",
    "auth:verify",
    "auth:verify-submit",
    "auth:sign-out",
    "auth:invitation",
    "auth:invitation-password",
    "auth:invitation-mfa",
    "static",
    "openapi",
    "notifications:feed",  # a calendar client has no session: the secret token is the credential
    "help:index",
    "help:glossary",
    "help:accessibility",
    "help:privacy",
    "help:cookies",
}
# Path parameters that name no tenant's object (which register, which file format): what each
# caller gets is their own tenant's data, tested in tests/api/test_register_exports.py.
NOT_IDS = {"exports:register", "api:register-export"}
# Shared reference data: any signed-in user may read it; the ids are catalogue ids, not tenant objects.
REFERENCE = {
    "catalogues:index",
    "catalogues:show",
    "catalogues:control",
    "api:catalogues",
    "api:catalogue",
    "api:control",
    "api:catalogue-oscal",
    "api:controls-search",
}
ROLES = ("supplier_lead", "supplier_contributor", "buyer_advisor", "administrator")


@dataclass
class World:
    """Two buyer/supplier pairs, their people and engagements, and an administrator."""

    app: FastAPI
    keys: Keys
    people: dict[str, Person]  # role -> person in tenant A (administrator: operator org)
    others: dict[str, Person]  # role -> person in tenant B
    engagement_a: str
    engagement_b: str
    engagement_rows: dict[str, Engagement]


@dataclass(frozen=True)
class WorldIds:
    """What the tenant world is, by id: built once per backend and session, copied per test."""

    people: dict[str, tuple[str, str, str]]  # role -> (user id, organisation id, TOTP secret)
    others: dict[str, tuple[str, str, str]]
    engagement_a: str
    engagement_b: str


def build_world(engine: Engine, keys: Keys) -> WorldIds:
    buyer_a, supplier_a = make_org(engine, "buyer"), make_org(engine, "supplier")
    buyer_b, supplier_b = make_org(engine, "buyer"), make_org(engine, "supplier")
    org_for = {"supplier_lead": supplier_a, "supplier_contributor": supplier_a, "buyer_advisor": buyer_a}
    other_for = {"supplier_lead": supplier_b, "supplier_contributor": supplier_b, "buyer_advisor": buyer_b}
    people = {role: make_person(engine, keys, role, org_for.get(role)) for role in ROLES}
    others = {role: make_person(engine, keys, role, other_for[role]) for role in ROLES if role in other_for}
    a, b = make_engagement(engine, buyer_a, supplier_a), make_engagement(engine, buyer_b, supplier_b)

    def ids(person: Person) -> tuple[str, str, str]:
        return person.user.id, person.organisation.id, person.totp_secret

    return WorldIds(
        {role: ids(p) for role, p in people.items()}, {role: ids(p) for role, p in others.items()}, a.id, b.id
    )


WORLD = "tenant-world"


@pytest.fixture
def database_url(snapshots: Snapshots, backend: str, tmp_path: Path) -> str:
    """This module's tests start from a copy of the tenant world, not an empty database."""
    snapshots.value(backend, WORLD, build_world)
    return snapshots.restore(backend, WORLD, tmp_path)


@pytest.fixture
def world(app: FastAPI, keys: Keys, snapshots: Snapshots, backend: str) -> World:
    ids = snapshots.value(backend, WORLD, build_world)
    with session_scope(app.state.engine) as session:

        def person(user_id: str, org_id: str, secret: str) -> Person:
            user, org = session.get(User, user_id), session.get(Organisation, org_id)
            assert user is not None and org is not None
            return Person(user, org, secret)

        people = {role: person(*row) for role, row in ids.people.items()}
        others = {role: person(*row) for role, row in ids.others.items()}
        a, b = session.get(Engagement, ids.engagement_a), session.get(Engagement, ids.engagement_b)
        assert a is not None and b is not None
    return World(app, keys, people, others, a.id, b.id, {"a": a, "b": b})


def token_of(world: World, person: Person) -> str:
    with session_scope(world.app.state.engine, write=True) as session:
        row, _ = sessions.create_token(session, person.user, name="t", expires_days=30, now=utcnow())
        session.commit()
        return row.id


def session_of(world: World, person: Person) -> str:
    with session_scope(world.app.state.engine, write=True) as session:
        sessions.start_session(
            session,
            person.user,
            mfa_passed=True,
            now=utcnow(),
            timeouts=sessions.Timeouts(
                __import__("datetime").timedelta(minutes=30), __import__("datetime").timedelta(hours=12)
            ),
        )
        session.commit()
        live = sessions.live_sessions(session, person.user.id, now=utcnow())
        return live[-1].id


@dataclass(frozen=True)
class Case:
    """One route: how to make an object the caller owns and one from the other tenant."""

    name: str
    method: str
    path: str
    own: Callable[[World, str], str | tuple[str, ...]]
    other: Callable[[World, str], str | tuple[str, ...]]
    allowed_roles: frozenset[str]  # roles for which the own object is accessible
    admin_sees_other: bool = True
    json: dict[str, object] | None = None  # a valid body, so validation never answers first
    form: dict[str, str] = field(default_factory=dict)


SUPPLIERS = frozenset({"supplier_lead", "supplier_contributor"})
READERS = frozenset({"supplier_lead", "supplier_contributor", "buyer_advisor"})
# Statuses that mean "you may, but this request was incomplete": anything but 404 shows access.
ACCESS = (200, 201, 204, 303, 409, 415, 422)


def engagement_a(w: World, r: str) -> str:
    return w.engagement_a


def engagement_b(w: World, r: str) -> str:
    return w.engagement_b


def _with_iso(w: World, engagement: Engagement) -> str:
    """The engagement with ISO/IEC 27001 in scope too (for its Statement of Applicability)."""
    with session_scope(w.app.state.engine, write=True) as session:
        if session.get(EngagementCatalogue, (engagement.id, "iso27001-2022")) is None:
            session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id="iso27001-2022"))
            session.commit()
    return engagement.id


def iso_engagement_a(w: World, r: str) -> str:
    return _with_iso(w, w.engagement_rows["a"])


def iso_engagement_b(w: World, r: str) -> str:
    return _with_iso(w, w.engagement_rows["b"])


def evidence_a(w: World, r: str) -> str:
    return make_evidence(w.app, w.engagement_rows["a"], w.people["supplier_lead"])


def evidence_b(w: World, r: str) -> str:
    return make_evidence(w.app, w.engagement_rows["b"], w.others["supplier_lead"])


def in_engagement(template: str) -> Callable[[World, str], str]:
    return lambda w, r: template.format(w.engagement_a)


def other_engagement(template: str) -> Callable[[World, str], str]:
    return lambda w, r: template.format(w.engagement_b)


def own_team_member(world: World, role: str) -> str:
    return world.people["supplier_contributor"].user.id


def other_team_member(world: World, role: str) -> str:
    return world.others["supplier_contributor"].user.id


CASES = [
    Case("api:engagement", "GET", "/api/engagements/{}", engagement_a, engagement_b, frozenset(ROLES)),
    Case("engagements:show", "GET", "/engagements/{}", engagement_a, engagement_b, frozenset(ROLES)),
    Case(
        "exports:engagement-xlsx",
        "GET",
        "/engagements/{}/export.xlsx",
        engagement_a,
        engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "exports:engagement-csv",
        "GET",
        "/engagements/{}/export.csv",
        engagement_a,
        engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "api:engagement-export-xlsx",
        "GET",
        "/api/engagements/{}/export.xlsx",
        engagement_a,
        engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "exports:soa",
        "GET",
        "/engagements/{}/statement-of-applicability.xlsx",
        iso_engagement_a,
        iso_engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "api:soa",
        "GET",
        "/api/engagements/{}/statement-of-applicability.csv",
        iso_engagement_a,
        iso_engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "api:engagement-export-csv",
        "GET",
        "/api/engagements/{}/export.csv",
        engagement_a,
        engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "engagements:scoping", "GET", "/engagements/{}/scoping", engagement_a, engagement_b, frozenset(ROLES)
    ),
    Case(
        "engagements:save-scoping",
        "POST",
        "/engagements/{}/scoping",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "assessment:work",
        "GET",
        "/engagements/{}/catalogues/cps-security-policy",
        engagement_a,
        engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "assessment:control",
        "GET",
        "/engagements/{}/controls/CPS-1.1",
        engagement_a,
        engagement_b,
        frozenset(ROLES),
    ),
    Case(
        "assessment:save-response",
        "POST",
        "/engagements/{}/controls/CPS-1.1/response",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "assessment:apply-mapped",
        "POST",
        "/engagements/{}/controls/CPS-1.1/apply-mapped",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "assessment:link-evidence",
        "POST",
        "/engagements/{}/controls/CPS-1.1/links",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "assessment:unlink-evidence",
        "POST",
        "/engagements/{}/controls/CPS-1.1/links/{}/remove",
        lambda w, r: (w.engagement_a, evidence_a(w, r)),
        lambda w, r: (w.engagement_b, evidence_b(w, r)),
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "evidence:upload",
        "POST",
        "/engagements/{}/evidence",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case("evidence:show", "GET", "/evidence/{}", evidence_a, evidence_b, READERS, admin_sees_other=False),
    Case(
        "evidence:download",
        "GET",
        "/evidence/{}/content",
        evidence_a,
        evidence_b,
        READERS,
        admin_sees_other=False,
    ),
    Case(
        "api:evidence-content",
        "GET",
        "/api/evidence/{}/content",
        evidence_a,
        evidence_b,
        READERS,
        admin_sees_other=False,
    ),
    Case(
        "evidence:new-version",
        "POST",
        "/evidence/{}/versions",
        evidence_a,
        evidence_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "api:readiness", "GET", "/api/engagements/{}/readiness", engagement_a, engagement_b, frozenset(ROLES)
    ),
    Case(
        "api:scoping",
        "PUT",
        "/api/engagements/{}/scoping",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
        json={"answers": {"uses_cloud_services": True}},
    ),
    Case(
        "api:response",
        "PUT",
        "/api/engagements/{}/responses/CPS-1.1",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
        json={"status": "met", "statement": "ok"},
    ),
    Case(
        "api:upload-evidence",
        "POST",
        "/api/engagements/{}/evidence",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "account:revoke-token",
        "POST",
        "/account/tokens/{}/revoke",
        lambda w, r: token_of(w, w.people[r]),
        lambda w, r: token_of(w, w.others["supplier_lead"]),
        frozenset(ROLES),
        admin_sees_other=False,
    ),
    Case(
        "account:revoke-session",
        "POST",
        "/account/sessions/{}/revoke",
        lambda w, r: session_of(w, w.people[r]),
        lambda w, r: session_of(w, w.others["supplier_lead"]),
        frozenset(ROLES),
        admin_sees_other=False,
    ),
    Case(
        "admin:disable-user",
        "POST",
        "/admin/users/{}/disable",
        own_team_member,
        other_team_member,
        frozenset({"supplier_lead", "administrator"}),
    ),
    Case(
        "admin:enable-user",
        "POST",
        "/admin/users/{}/enable",
        own_team_member,
        other_team_member,
        frozenset({"supplier_lead", "administrator"}),
    ),
    Case(
        "admin:reinvite-user",
        "POST",
        "/admin/users/{}/invite",
        own_team_member,
        other_team_member,
        frozenset({"supplier_lead", "administrator"}),
    ),
]


def _per_engagement(
    make: Callable[..., str],
) -> tuple[Callable[[World, str], str], Callable[[World, str], str]]:
    """(own, other) id makers for an object made inside engagement a or b."""
    engine = lambda w: w.app.state.engine  # noqa: E731
    return (
        lambda w, r: (w.engagement_a, make(engine(w), w.engagement_rows["a"])),  # type: ignore[return-value]
        lambda w, r: (w.engagement_b, make(engine(w), w.engagement_rows["b"])),  # type: ignore[return-value]
    )


def submission_a(w: World, r: str) -> str:
    return make_decided_submission(w.app.state.engine, w.engagement_rows["a"])


def submission_b(w: World, r: str) -> str:
    return make_decided_submission(w.app.state.engine, w.engagement_rows["b"])


LEAD = frozenset({"supplier_lead"})
ADVISOR = frozenset({"buyer_advisor"})
RISK = {"title": "Loss", "likelihood": 2, "impact": 3, "residual_likelihood": 1, "residual_impact": 1}
ENTRY = {"title": "Patch", "status": "planned"}
RISK_IDS, ENTRY_IDS = _per_engagement(make_risk), _per_engagement(make_register_entry)


def _engagement_case(name: str, method: str, path: str, roles: frozenset[str], **kw: object) -> Case:
    reads = method == "GET"
    return Case(name, method, path, engagement_a, engagement_b, roles, admin_sees_other=reads, **kw)  # type: ignore[arg-type]


def _submission_case(name: str, method: str, path: str, roles: frozenset[str], **kw: object) -> Case:
    reads = method == "GET"
    return Case(name, method, path, submission_a, submission_b, roles, admin_sees_other=reads, **kw)  # type: ignore[arg-type]


CASES += [
    *(
        _engagement_case(name, method, path, SUPPLIERS)
        for name, method, path in (
            ("imports:check", "POST", "/engagements/{}/import/check"),
            ("imports:apply", "POST", "/engagements/{}/import"),
            ("api:import-answers", "POST", "/api/engagements/{}/import"),
        )
    ),
    # The import page is for those who answer: an administrator does not see it, even of others.
    Case("imports:form", "GET", "/engagements/{}/import", engagement_a, engagement_b, SUPPLIERS, False),
    # The plan's registers are imported by the supplier lead who keeps the plan (risks shown; the
    # register takes the same route with `register`).
    Case(
        "imports:plan-form",
        "GET",
        "/engagements/{}/plan/import/risks",
        engagement_a,
        engagement_b,
        LEAD,
        False,
    ),
    _engagement_case("imports:plan-check", "POST", "/engagements/{}/plan/import/risks/check", LEAD),
    _engagement_case("imports:plan-apply", "POST", "/engagements/{}/plan/import/risks", LEAD),
    _engagement_case("api:import-plan", "POST", "/api/engagements/{}/import/risks", LEAD),
    _engagement_case("exports:engagement-bundle", "GET", "/engagements/{}/evidence.zip", frozenset(ROLES)),
    _engagement_case("api:engagement-bundle", "GET", "/api/engagements/{}/evidence.zip", frozenset(ROLES)),
    _submission_case("exports:submission-bundle", "GET", "/submissions/{}/evidence.zip", frozenset(ROLES)),
    _submission_case("api:submission-bundle", "GET", "/api/submissions/{}/evidence.zip", frozenset(ROLES)),
    _engagement_case("approvals:plan", "GET", "/engagements/{}/plan", frozenset(ROLES)),
    _engagement_case("approvals:save-risk", "POST", "/engagements/{}/plan/risks", LEAD),
    Case(
        "approvals:delete-risk",
        "POST",
        "/engagements/{}/plan/risks/{}/delete",
        *RISK_IDS,
        LEAD,
        admin_sees_other=False,
    ),
    _engagement_case("approvals:save-entry", "POST", "/engagements/{}/plan/register", LEAD),
    _engagement_case("approvals:entries-from-gaps", "POST", "/engagements/{}/plan/register/from-gaps", LEAD),
    _engagement_case("approvals:save-incident", "POST", "/engagements/{}/plan/incident", LEAD),
    _engagement_case("approvals:save-roles", "POST", "/engagements/{}/plan/roles", LEAD),
    _engagement_case("approvals:submit", "POST", "/engagements/{}/plan/submit", LEAD),
    _engagement_case("approvals:file-notice", "POST", "/engagements/{}/plan/change-notices", LEAD),
    _engagement_case(
        "approvals:move", "POST", "/engagements/{}/plan/move", ADVISOR, form={"move": "terminate"}
    ),
    _submission_case("approvals:review", "GET", "/submissions/{}", frozenset(ROLES)),
    _submission_case("approvals:comment", "POST", "/submissions/{}/comments", ADVISOR),
    _submission_case("approvals:decide", "POST", "/submissions/{}/decision", ADVISOR),
    _submission_case("approvals:statement", "GET", "/submissions/{}/statement", frozenset(ROLES)),
    _engagement_case("api:plan", "GET", "/api/engagements/{}/plan", frozenset(ROLES)),
    _engagement_case("api:create-risk", "POST", "/api/engagements/{}/risks", LEAD, json=RISK),
    Case(
        "api:update-risk",
        "PUT",
        "/api/engagements/{}/risks/{}",
        *RISK_IDS,
        LEAD,
        admin_sees_other=False,
        json=RISK,
    ),
    Case(
        "api:delete-risk",
        "DELETE",
        "/api/engagements/{}/risks/{}",
        *RISK_IDS,
        LEAD,
        admin_sees_other=False,
        json={},
    ),
    _engagement_case("api:create-entry", "POST", "/api/engagements/{}/register", LEAD, json=ENTRY),
    Case(
        "api:update-entry",
        "PUT",
        "/api/engagements/{}/register/{}",
        *ENTRY_IDS,
        LEAD,
        admin_sees_other=False,
        json=ENTRY,
    ),
    _engagement_case(
        "api:incident-process",
        "PUT",
        "/api/engagements/{}/incident-process",
        LEAD,
        json={"document": "Process.", "contacts": [{"name": "Sam", "email": "sam@x.example"}]},
    ),
    _engagement_case(
        "api:security-roles",
        "PUT",
        "/api/engagements/{}/security-roles",
        LEAD,
        json={"people": [{"kind": "designated_security_contact", "name": "Dana"}]},
    ),
    _engagement_case("api:submissions", "GET", "/api/engagements/{}/submissions", frozenset(ROLES)),
    _engagement_case(
        "api:submit",
        "POST",
        "/api/engagements/{}/submissions",
        LEAD,
        json={"officer_name": "Dana", "officer_role": "COO", "declaration_confirmed": True},
    ),
    _submission_case("api:submission", "GET", "/api/submissions/{}", frozenset(ROLES)),
    _submission_case("api:submission-diff", "GET", "/api/submissions/{}/diff", frozenset(ROLES)),
    _submission_case(
        "api:comment",
        "POST",
        "/api/submissions/{}/comments",
        ADVISOR,
        json={"control_id": "CPS-1.1", "body": "x"},
    ),
    _submission_case(
        "api:decision",
        "POST",
        "/api/submissions/{}/decision",
        ADVISOR,
        json={"decision": "reject", "reasons": "x"},
    ),
    _submission_case("api:statement-pdf", "GET", "/api/submissions/{}/statement.pdf", frozenset(ROLES)),
    _engagement_case("api:resolve-dispute", "POST", "/api/engagements/{}/dispute/resolve", ADVISOR, json={}),
    _engagement_case("api:terminate", "POST", "/api/engagements/{}/termination", ADVISOR, json={}),
    _engagement_case("api:change-notices", "GET", "/api/engagements/{}/change-notices", frozenset(ROLES)),
    _engagement_case(
        "api:file-notice",
        "POST",
        "/api/engagements/{}/change-notices",
        LEAD,
        json={"event": "b", "description": "New risk", "aware_date": "2024-01-02"},
    ),
    _engagement_case("api:deadlines", "GET", "/api/engagements/{}/deadlines", frozenset(ROLES)),
]


# Certificates and notifications (issue 7).
def certificate_of(w: World, tenant: str) -> str:
    from tests.factories import make_certificate

    people = w.people if tenant == "a" else w.others
    return make_certificate(w.app.state.engine, people["supplier_lead"].organisation, "iso27001")


def subcontractor_of(w: World, tenant: str) -> str:
    from tests.factories import make_subcontractor

    people = w.people if tenant == "a" else w.others
    return make_subcontractor(
        w.app.state.engine, people["supplier_lead"].organisation, f"Sub {tenant} {id(w)}"
    )


def notification_for(w: World, person: Person) -> str:
    from app.models import Notification

    with session_scope(w.app.state.engine, write=True) as session:
        row = Notification(user_id=person.user.id, category="certificate_expiry", subject="s", link="/")
        session.add(row)
        session.commit()
        return row.id


def _certificate_case(name: str, method: str, path: str, roles: frozenset[str]) -> Case:
    return Case(
        name,
        method,
        path,
        lambda w, r: certificate_of(w, "a"),
        lambda w, r: certificate_of(w, "b"),
        roles,
        admin_sees_other=False,
    )


CASES += [
    _certificate_case("certificates:show", "GET", "/certificates/{}", READERS),
    _certificate_case("api:certificate", "GET", "/api/certificates/{}", READERS),
    _certificate_case("certificates:edit", "GET", "/certificates/{}/edit", frozenset({"supplier_lead"})),
    _certificate_case("certificates:update", "POST", "/certificates/{}", frozenset({"supplier_lead"})),
    _certificate_case(
        "certificates:withdraw", "POST", "/certificates/{}/withdraw", frozenset({"supplier_lead"})
    ),
    Case(
        "certificates:remove-subcontractor",
        "POST",
        "/subcontractors/{}/remove",
        lambda w, r: subcontractor_of(w, "a"),
        lambda w, r: subcontractor_of(w, "b"),
        frozenset({"supplier_lead"}),
        admin_sees_other=False,
    ),
    Case(
        "notifications:read",
        "POST",
        "/notifications/{}/read",
        lambda w, r: notification_for(w, w.people[r]),
        lambda w, r: notification_for(w, w.others["supplier_lead"]),
        frozenset(ROLES),
        admin_sees_other=False,
    ),
    Case(
        "api:notification-read",
        "POST",
        "/api/notifications/{}/read",
        lambda w, r: notification_for(w, w.people[r]),
        lambda w, r: notification_for(w, w.others["supplier_lead"]),
        frozenset(ROLES),
        admin_sees_other=False,
        json={},
    ),
]


# Certificate changes and sub-contractors through the API (issue 12, API parity).
CERTIFICATE_BODY = {"scheme": "iso27001", "body": "BSI", "issued_on": "2024-01-02"}
CASES += [
    Case(
        "api:update-certificate",
        "PUT",
        "/api/certificates/{}",
        lambda w, r: certificate_of(w, "a"),
        lambda w, r: certificate_of(w, "b"),
        frozenset({"supplier_lead"}),
        admin_sees_other=False,
        json=CERTIFICATE_BODY,
    ),
    Case(
        "api:withdraw-certificate",
        "POST",
        "/api/certificates/{}/withdraw",
        lambda w, r: certificate_of(w, "a"),
        lambda w, r: certificate_of(w, "b"),
        frozenset({"supplier_lead"}),
        admin_sees_other=False,
        json={},
    ),
    Case(
        "api:remove-subcontractor",
        "DELETE",
        "/api/subcontractors/{}",
        lambda w, r: subcontractor_of(w, "a"),
        lambda w, r: subcontractor_of(w, "b"),
        frozenset({"supplier_lead"}),
        admin_sees_other=False,
        json={},
    ),
]


# Office closure days (issue 12): a buyer organisation's own; only its advisors may remove one.
_closure_serial = iter(range(10_000))


def closure_of(w: World, tenant: str) -> str:
    from datetime import date, timedelta

    from app.models import ClosureDay

    people = w.people if tenant == "a" else w.others
    monday = date(2024, 1, 1) + timedelta(weeks=next(_closure_serial))
    with session_scope(w.app.state.engine, write=True) as session:
        row = ClosureDay(buyer_org_id=people["buyer_advisor"].organisation.id, day=monday, reason="Closed")
        session.add(row)
        session.commit()
        return row.id


def _closure_case(name: str, method: str, path: str, **kw: object) -> Case:
    return Case(
        name,
        method,
        path,
        lambda w, r: closure_of(w, "a"),
        lambda w, r: closure_of(w, "b"),
        ADVISOR,
        admin_sees_other=False,
        **kw,  # type: ignore[arg-type]
    )


CASES += [
    _closure_case("approvals:remove-closure-day", "POST", "/reviews/closure-days/{}/remove"),
    _closure_case("api:remove-closure-day", "DELETE", "/api/closure-days/{}", json={}),
]


# The evidence library in the API (issue 12): the same rules as the evidence pages.
CASES += [
    Case("api:evidence", "GET", "/api/evidence/{}", evidence_a, evidence_b, READERS, admin_sees_other=False),
    Case(
        "api:evidence-new-version",
        "POST",
        "/api/evidence/{}/versions",
        evidence_a,
        evidence_b,
        SUPPLIERS,
        admin_sees_other=False,
    ),
    Case(
        "api:link-evidence",
        "POST",
        "/api/engagements/{}/responses/CPS-1.1/evidence",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
        json={"evidence_id": "0" * 32},
    ),
    Case(
        "api:unlink-evidence",
        "DELETE",
        "/api/engagements/{}/responses/CPS-1.1/evidence/{}",
        lambda w, r: (w.engagement_a, evidence_a(w, r)),
        lambda w, r: (w.engagement_b, evidence_b(w, r)),
        SUPPLIERS,
        admin_sees_other=False,
        json={},
    ),
    Case(
        "api:apply-mapped",
        "POST",
        "/api/engagements/{}/responses/CPS-1.1/apply-mapped",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
        json={"targets": ["S24-A1-1.1"]},
    ),
]


# Agreed variations (issue 13): every party reads them; only the buyer's advisors record or remove.
def variation_of(w: World, tenant: str) -> tuple[str, str]:
    from datetime import date

    from app.domain.variations import VariationKind
    from app.models import AgreedVariation

    engagement = w.engagement_a if tenant == "a" else w.engagement_b
    people = w.people if tenant == "a" else w.others
    with session_scope(w.app.state.engine, write=True) as session:
        row = AgreedVariation(
            engagement_id=engagement,
            kind=VariationKind.CALENDAR,
            reference="Letter",
            agreed_on=date(2024, 8, 1),
            recorded_by_id=people["buyer_advisor"].user.id,
            recorded_by_name="Advisor",
        )
        session.add(row)
        session.commit()
        return engagement, row.id


CALENDAR_VARIATION = {"kind": "calendar", "reference": "Letter of 1 August", "agreed_on": "2024-08-01"}
CASES += [
    _engagement_case("api:variations", "GET", "/api/engagements/{}/variations", frozenset(ROLES)),
    # the ISMS submission day (Call Off Schedule 7 long form para 3.1): the supplier's lead only
    _engagement_case(
        "api:record-isms",
        "PUT",
        "/api/engagements/{}/isms-submission",
        LEAD,
        json={"submitted_on": "2024-08-01"},
    ),
    _engagement_case(
        "approvals:record-isms",
        "POST",
        "/engagements/{}/plan/isms",
        LEAD,
        form={"isms_submitted_on": "2024-08-01"},
    ),
    _engagement_case("variations:index", "GET", "/engagements/{}/variations", frozenset(ROLES)),
    _engagement_case(
        "api:record-variation", "POST", "/api/engagements/{}/variations", ADVISOR, json=CALENDAR_VARIATION
    ),
    _engagement_case(
        "variations:record",
        "POST",
        "/engagements/{}/variations",
        ADVISOR,
        form={"what": "calendar||", "reference": "Letter of 1 August", "agreed_on": "2024-08-01"},
    ),
    Case(
        "api:remove-variation",
        "DELETE",
        "/api/engagements/{}/variations/{}",
        lambda w, r: variation_of(w, "a"),
        lambda w, r: variation_of(w, "b"),
        ADVISOR,
        admin_sees_other=False,
        json={},
    ),
    Case(
        "variations:remove",
        "POST",
        "/engagements/{}/variations/{}/remove",
        lambda w, r: variation_of(w, "a"),
        lambda w, r: variation_of(w, "b"),
        ADVISOR,
        admin_sees_other=False,
    ),
]

# Helper "review" (issue 16): the decision summary and readable diff, read by every party.
CASES += [
    _submission_case("api:submission-review", "GET", "/api/submissions/{}/review", frozenset(ROLES)),
]

# Helper "documents" (issue 17 items 3, 4, 6): the plan as a document and OSCAL, read by every
# party that may view the engagement.
CASES += [
    _engagement_case("documents:plan-pdf", "GET", "/engagements/{}/plan.pdf", frozenset(ROLES)),
    _engagement_case("api:plan-pdf", "GET", "/api/engagements/{}/plan.pdf", frozenset(ROLES)),
    _engagement_case("documents:plan-docx", "GET", "/engagements/{}/plan.docx", frozenset(ROLES)),
    _engagement_case("api:plan-docx", "GET", "/api/engagements/{}/plan.docx", frozenset(ROLES)),
    _engagement_case("api:engagement-oscal", "GET", "/api/engagements/{}/oscal/ssp.json", frozenset(ROLES)),
    _engagement_case("documents:carry-forward", "GET", "/engagements/{}/annual-review", frozenset(ROLES)),
    _engagement_case("api:annual-review", "GET", "/api/engagements/{}/annual-review", frozenset(ROLES)),
    _engagement_case("documents:start-review", "POST", "/engagements/{}/annual-review", LEAD),
    _engagement_case("api:start-annual-review", "POST", "/api/engagements/{}/annual-review", LEAD, json={}),
]


# exportjobs: prepared downloads (issue 17 item 8) belong to the one person who asked for them;
# nobody else sees, fetches or retries them, not even an administrator or a colleague.
def download_for(w: World, person: Person) -> str:
    from datetime import timedelta

    from app.models import Download

    with session_scope(w.app.state.engine, write=True) as session:
        row = Download(
            user_id=person.user.id,
            kind="register",
            params='{"format": "csv", "what": "certificates"}',
            title="Certificate register (CSV)",
            state="ready",
            progress=100,
            filename="attest-certificates.csv",
            media_type="text/csv; charset=utf-8",
            size=9,
            finished_at=utcnow(),
            expires_at=utcnow() + timedelta(days=7),
        )
        row.object_name = f"downloads/{row.id}.csv"
        session.add(row)
        session.commit()
    w.app.state.store.put_bytes(row.object_name, b"Holder\r\n")
    return row.id


def _download_case(name: str, method: str, path: str, json: dict[str, object] | None = None) -> Case:
    return Case(
        name,
        method,
        path,
        lambda w, r: download_for(w, w.people[r]),
        lambda w, r: download_for(w, w.others["supplier_lead"]),
        frozenset(ROLES),
        admin_sees_other=False,
        json=json,
    )


CASES += [
    _download_case("downloads:content", "GET", "/downloads/{}/content"),
    _download_case("downloads:retry", "POST", "/downloads/{}/retry"),
    _download_case("api:download", "GET", "/api/downloads/{}"),
    _download_case("api:download-content", "GET", "/api/downloads/{}/content"),
    _download_case("api:download-retry", "POST", "/api/downloads/{}/retry", json={}),
]

# Helper "workview" (issue 15 item 1): bulk changes from the work view and the API, suppliers only.
CASES += [
    Case(
        "assessment:bulk",
        "POST",
        "/engagements/{}/catalogues/cps-security-policy/bulk",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
        form={"selected": "CPS-1.1", "bulk_status": "met"},
    ),
    Case(
        "api:bulk-responses",
        "POST",
        "/api/engagements/{}/responses/bulk",
        engagement_a,
        engagement_b,
        SUPPLIERS,
        admin_sees_other=False,
        json={"control_ids": ["CPS-1.1"], "status": "met"},
    ),
]

MATRIX = {case.name for case in CASES}


def denied_count(world: World) -> int:
    with session_scope(world.app.state.engine) as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "denied")
        return int(session.exec(query).one())


def call(world: World, client: TestClient, case: Case, ids: str | tuple[str, ...]) -> tuple[int, str]:
    path = case.path.format(*((ids,) if isinstance(ids, str) else ids))
    token = csrf_token(world.app, client)
    if case.method == "GET":
        response = client.get(path, follow_redirects=False)
    elif case.json is not None:
        response = client.request(
            case.method, path, json=case.json, headers={"X-CSRF-Token": token}, follow_redirects=False
        )
    else:
        response = client.post(path, data={"csrf_token": token, **case.form}, follow_redirects=False)
    return response.status_code, response.text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("role", ROLES)
def test_tenant_matrix(world: World, case: Case, role: str) -> None:
    person = world.people[role]
    with TestClient(world.app) as client:
        sign_in(world.app, client, person)
        other_id = case.other(world, role)
        before = denied_count(world)
        status, body = call(world, client, case, other_id)
        if role == "administrator" and case.admin_sees_other:
            assert status in ACCESS, (status, body)
        else:
            assert status == 404, (status, body)
            for part in (other_id,) if isinstance(other_id, str) else other_id:
                assert part not in body  # nothing about the object leaks, not even its id echoed
            assert denied_count(world) == before + 1
        own_id = case.own(world, role)
        before = denied_count(world)
        status, body = call(world, client, case, own_id)
        if role in case.allowed_roles:
            assert status in ACCESS, (status, body)
            assert denied_count(world) == before
        else:
            assert status == 404
            assert denied_count(world) == before + 1


def flat_routes(app: FastAPI) -> list[tuple[str, str, set[str]]]:
    """(name, path, methods) of every route, including those of included routers."""
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        methods = set(route.methods) if isinstance(route, APIRoute) else set()
        out.append(
            (str(getattr(route, "name", "")), str(context.path or getattr(route, "path", "")), methods)
        )
    return out


def test_every_route_is_classified(app: FastAPI) -> None:
    routes = flat_routes(app)
    assert len(routes) > 30
    with_ids = {name for name, path, _ in routes if "{" in path and name != "static"}
    assert with_ids - PUBLIC - REFERENCE - NOT_IDS - MATRIX == set(), "add these routes to the tenant matrix"
    assert {name for name, _, _ in routes} >= MATRIX


def test_every_non_public_route_refuses_anonymous_callers(app: FastAPI, anonymous: TestClient) -> None:
    token = csrf_token(app, anonymous)
    checked = 0
    for name, route_path, methods in flat_routes(app):
        if name in PUBLIC or not methods:
            continue
        checked += 1
        path = route_path.replace("{", "").replace("}", "")
        for method in methods - {"HEAD"}:
            data = {"csrf_token": token} if method != "GET" else None
            response = anonymous.request(method, path, data=data, follow_redirects=False)
            if path.startswith("/api"):
                assert response.status_code == 401, (method, path, response.status_code)
                assert response.json()["error"]["code"] == "unauthenticated"
            else:
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/sign-in?next=")
    assert checked > 20


def test_cross_tenant_list_shows_only_own_engagements(world: World) -> None:
    with TestClient(world.app) as client:
        sign_in(world.app, client, world.people["supplier_lead"])
        ids = {e["id"] for e in client.get("/api/engagements").json()}
    assert ids == {world.engagement_a}


def org_names(world: World) -> list[str]:
    with session_scope(world.app.state.engine) as session:
        return [o.name for o in session.exec(select(Organisation))]
