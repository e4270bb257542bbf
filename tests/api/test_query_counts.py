"""Pages and readiness run a fixed number of queries, whatever the number of controls answered
and of certificates and sub-contractors in the register (the gates read it in one query each)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.factories import (
    make_certificate,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    make_subcontractor,
    sign_in,
)


@contextmanager
def counting(app: FastAPI) -> Iterator[list[str]]:
    statements: list[str] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(app.state.engine, "before_cursor_execute", on_execute)


def test_readiness_and_work_view_queries_do_not_grow_with_answers(app: FastAPI, keys) -> None:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    with TestClient(app) as client:
        sign_in(app, client, lead)
        paths = [
            f"/api/engagements/{engagement.id}/readiness",
            f"/engagements/{engagement.id}/catalogues/cps-security-policy",
            f"/engagements/{engagement.id}",
        ]
        client.get(paths[0])  # warm up caches
        with counting(app) as few:
            for path in paths:
                assert client.get(path).status_code == 200
        for n in range(1, 11):
            client.put(
                f"/api/engagements/{engagement.id}/responses/CPS-1.{n % 6 + 1}"
                if n < 7
                else f"/api/engagements/{engagement.id}/responses/CPS-4.{n}",
                json={"status": "met"},
            )
            make_evidence(app, engagement, lead, control_ids=(f"CPS-4.{n}",), data=b"%PDF-1.4 " + bytes([n]))
            sub = make_subcontractor(engine, supplier, f"Sub {n}", "higher_risk" if n % 2 else "medium_risk")
            make_certificate(engine, supplier, "cyber_essentials_plus", subcontractor_id=sub)
        for scheme in ("iso27001", "cyber_essentials_plus", "it_health_check"):
            make_certificate(engine, supplier, scheme)
        with counting(app) as many:
            for path in paths:
                assert client.get(path).status_code == 200
    assert len(many) == len(few)
