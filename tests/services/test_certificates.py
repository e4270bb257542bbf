"""The certificate services below HTTP: each use case records its one audit event in the caller's
transaction (a rollback takes both away), and one row is built without listing the register."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlmodel import select

from app import clock
from app.db import session_scope
from app.domain.access import Actor
from app.domain.errors import Denied, Refused
from app.models import AuditEvent, Certificate, Subcontractor, utcnow
from app.services import audit
from app.services import certificates as service
from app.services.caller import Caller
from tests.factories import make_certificate, make_org, make_person, make_subcontractor

TODAY = clock.today()


def caller_for(app: FastAPI, role: str, org=None) -> Caller:  # type: ignore[no-untyped-def]
    person = make_person(app.state.engine, app.state.keys, role, org)
    actor = Actor(person.user.id, person.user.organisation_id, person.user.role)
    return Caller(actor, audit.Who(actor.user_id, actor.org_id), app.state.keys.audit)


def test_each_use_case_records_its_event_with_the_change(app: FastAPI) -> None:
    engine = app.state.engine
    lead = caller_for(app, "supplier_lead")
    draft = service.CertificateDraft(
        "iso27001", body="BSI", issued_on=(TODAY - timedelta(days=5)).isoformat()
    )
    with session_scope(engine, write=True) as session:
        data = service.check(session, lead.actor.org_id, draft, today=TODAY)
        row = service.create(session, lead, data)
        sub = service.add_subcontractor(session, lead, name="Harbour Data Ltd", tier="higher_risk")
        session.rollback()  # nothing committed: neither the rows nor their events remain
    with session_scope(engine, write=True) as session:
        assert session.get(Certificate, row.id) is None and session.get(Subcontractor, sub.id) is None
        assert (
            list(session.exec(select(AuditEvent).where(AuditEvent.actor_user_id == lead.actor.user_id))) == []
        )
        row = service.create(session, lead, service.check(session, lead.actor.org_id, draft, today=TODAY))
        service.withdraw(session, lead, row)
        session.commit()
        actions = list(session.exec(select(AuditEvent.action).where(AuditEvent.object_id == row.id)))
    assert actions == ["certificate_added", "certificate_withdrawn"]


def test_the_rules_are_in_the_services(app: FastAPI) -> None:
    engine = app.state.engine
    lead = caller_for(app, "supplier_lead")
    contributor = caller_for(app, "supplier_contributor", other_org := make_org(engine, "supplier"))
    other = make_certificate(engine, other_org, "iso27001")
    sub_id = make_subcontractor(engine, other_org, "Theirs Ltd")
    with session_scope(engine, write=True) as session:
        with pytest.raises(Denied):
            service.add_subcontractor(session, contributor, name="X Ltd", tier="medium_risk")
        with pytest.raises(Refused):
            service.withdraw(session, lead, service.readable(session, contributor.actor, other))
        with pytest.raises(Refused):
            service.certificate_to_manage(session, lead.actor, "0" * 32, "certificate_withdrawn")
        theirs = session.get(Subcontractor, sub_id)
        assert theirs is not None
        with pytest.raises(Refused):
            service.remove_subcontractor(session, lead, theirs)


def test_one_row_reads_its_holder_not_the_whole_register(app: FastAPI) -> None:
    engine = app.state.engine
    supplier = make_org(engine, "supplier", name="Northwind Ltd")
    sub = make_subcontractor(engine, supplier, "Minster Print Ltd", "medium_risk")
    for _ in range(5):
        make_certificate(engine, supplier, "iso27001")
    cert = make_certificate(
        engine, supplier, "cyber_essentials", issued_on=TODAY - timedelta(days=5), subcontractor_id=sub
    )
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with session_scope(engine, write=True) as session:
        row = session.get(Certificate, cert)
        assert row is not None
        event.listen(engine, "before_cursor_execute", count)
        try:
            found = service.row_for(session, row, today=TODAY)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert found.holder.name == "Minster Print Ltd" and str(found.state) == "current"
        assert not any("FROM certificate" in s for s in statements) and len(statements) <= 1
        removed = session.get(Subcontractor, sub)
        assert removed is not None
        removed.removed_at = utcnow()
        session.add(removed)
        session.flush()
        assert service.row_for(session, row, today=TODAY).holder.name == "Minster Print Ltd (removed)"
