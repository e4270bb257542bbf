"""An audit log people can read (issue 16 item 6): names, organisations, engagements and action
labels instead of ids; filters by person, engagement, action and date on the page and the CSV;
a fixed number of statements per page; and no other tenant's people in the person filter."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.adapters.crypto import Keys
from app.db import session_scope
from app.domain.access import Action
from app.domain.audit import AuditAction
from app.domain.audit_labels import (
    ACCESS_ACTION_LABELS,
    AUDIT_ACTION_LABELS,
    LABELS,
    action_label,
    actor_label,
)
from app.models import Engagement, Organisation, User
from app.services import accounts, audit
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

MARCH = [datetime(2026, 3, day, 12, tzinfo=UTC) for day in (1, 10, 20)]


def named(app: FastAPI, keys: Keys, role: str, org: Organisation, name: str) -> Person:
    person = make_person(app.state.engine, keys, role, org)
    with session_scope(app.state.engine, write=True) as session:
        user = session.get(User, person.user.id)
        assert user is not None
        user.name = name
        session.commit()
    person.user.name = name
    return person


def org(app: FastAPI, kind: str, name: str) -> Organisation:
    return make_org(app.state.engine, kind, name)


def engagement(app: FastAPI, buyer: Organisation, supplier: Organisation, reference: str) -> Engagement:
    made = make_engagement(app.state.engine, buyer, supplier)
    with session_scope(app.state.engine, write=True) as session:
        row = session.get(Engagement, made.id)
        assert row is not None
        row.reference, row.title = reference, f"Secure transfer {reference}"
        session.commit()
    return made


def record(
    app: FastAPI, who: audit.Who, action: str, object_id: str, engagement_id: str, at: datetime
) -> None:
    with session_scope(app.state.engine, write=True) as session:
        audit.record(
            session,
            app.state.keys.audit,
            who,
            action,
            object_type="evidence",
            object_id=object_id,
            engagement_id=engagement_id,
            at=at,
        )
        session.commit()


def by(person: Person, address: str = "198.51.100.7") -> audit.Who:
    return audit.Who(user_id=person.user.id, org_id=person.organisation.id, address=address)


def export_rows(client: TestClient, params: dict[str, str] | None = None) -> list[dict[str, str]]:
    response = client.get("/audit/export.csv", params=params or {})
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def ours(rows: list[dict[str, str]]) -> set[str]:
    """The object ids of the records a test wrote (others record sign-ins and accounts too)."""
    return {r["object_id"] for r in rows if r["object_id"].startswith("obj-")}


def link(page: str, element_id: str) -> str:
    found = re.search(rf'href="([^"]*)"[^>]*id="{element_id}"', page)
    assert found, f"no link #{element_id}"
    return html.unescape(found.group(1))


@dataclass
class World:
    advisor: Person
    sam: Person
    pat: Person
    mine: Engagement
    second: Engagement


def make_world(app: FastAPI, keys: Keys) -> World:
    """One buyer with two engagements (two suppliers), and four records in March 2026."""
    buyer = org(app, "buyer", "Department for Tests")
    acme, bolt = org(app, "supplier", "Acme Secure Ltd"), org(app, "supplier", "Bolt Systems plc")
    advisor = named(app, keys, "buyer_advisor", buyer, "Ada Advisor")
    sam = named(app, keys, "supplier_lead", acme, "Sam Supplier")
    pat = named(app, keys, "supplier_lead", bolt, "Pat Bolt")
    mine, second = engagement(app, buyer, acme, "PR 2026 016"), engagement(app, buyer, bolt, "PR 2026 017")
    record(app, by(sam), AuditAction.EVIDENCE_UPLOADED, "obj-alpha", mine.id, MARCH[0])
    record(app, by(sam), AuditAction.EVIDENCE_DOWNLOADED, "obj-bravo", mine.id, MARCH[1])
    record(app, by(pat), AuditAction.EVIDENCE_UPLOADED, "obj-charlie", second.id, MARCH[1])
    record(app, by(advisor), AuditAction.PLAN_REJECTED, "obj-delta", mine.id, MARCH[2])
    return World(advisor, sam, pat, mine, second)


def test_actors_engagements_and_actions_are_shown_by_name_on_the_page_and_in_the_csv(
    app: FastAPI, keys: Keys
) -> None:
    w = make_world(app, keys)
    record(app, audit.Who(address="cli", request_id="cli"), "evidence_viewed", "obj-cli", w.mine.id, MARCH[2])
    record(app, audit.Who(), AuditAction.STATEMENT_DOWNLOADED, "obj-job", w.mine.id, MARCH[2])
    record(app, audit.Who(address="203.0.113.9"), Action.VIEW_ENGAGEMENT, "obj-anon", w.mine.id, MARCH[2])
    gone = audit.Who(user_id="f" * 32, org_id=w.sam.organisation.id, address="198.51.100.8")
    record(app, gone, AuditAction.EVIDENCE_VIEWED, "obj-gone", w.mine.id, MARCH[2])
    with TestClient(app) as client:
        sign_in(app, client, w.advisor)
        page = client.get("/audit")
        assert page.status_code == 200
        text = html.unescape(page.text)
        for shown in (
            "Sam Supplier",
            "Acme Secure Ltd",
            "Ada Advisor",
            "Department for Tests",
            "Evidence uploaded",
            "Plan rejected",
            "PR 2026 016",
            "Secure transfer PR 2026 016",
            "Attest (command line)",
            "System",
            "Not signed in",
            "Deleted account",
        ):
            assert shown in text, shown
        # The ids stay there for investigators, out of the way.
        assert f'title="User id {w.sam.user.id}"' in page.text
        assert f'title="Engagement id {w.mine.id}"' in page.text
        rows = {r["object_id"]: r for r in export_rows(client)}
    alpha = rows["obj-alpha"]
    assert (alpha["actor_name"], alpha["actor_organisation"]) == ("Sam Supplier", "Acme Secure Ltd")
    assert (alpha["action_label"], alpha["action"]) == ("Evidence uploaded", "evidence_uploaded")
    assert (alpha["engagement_reference"], alpha["engagement_title"]) == (
        "PR 2026 016",
        "Secure transfer PR 2026 016",
    )
    assert (alpha["actor_user_id"], alpha["engagement_id"]) == (w.sam.user.id, w.mine.id)
    assert rows["obj-cli"]["actor_name"] == "Attest (command line)"
    assert rows["obj-job"]["actor_name"] == "System"
    assert rows["obj-anon"]["actor_name"] == "Not signed in"
    assert rows["obj-anon"]["action_label"] == "View an engagement"
    assert (rows["obj-gone"]["actor_name"], rows["obj-gone"]["actor_organisation"]) == (
        "Deleted account",
        "Acme Secure Ltd",
    )


FILTERS = [
    ({"actor": "sam"}, {"obj-alpha", "obj-bravo"}),
    ({"engagement": "second"}, {"obj-charlie"}),
    ({"action": "evidence_uploaded"}, {"obj-alpha", "obj-charlie"}),
    ({"since": "2026-03-10"}, {"obj-bravo", "obj-charlie", "obj-delta"}),
    ({"until": "2026-03-10"}, {"obj-alpha", "obj-bravo", "obj-charlie"}),  # the whole "to" day
    ({"since": "2026-03-10", "until": "2026-03-10"}, {"obj-bravo", "obj-charlie"}),
    ({"actor": "sam", "action": "evidence_downloaded", "since": "2026-03-05"}, {"obj-bravo"}),
    ({"engagement": "mine", "until": "2026-03-15"}, {"obj-alpha", "obj-bravo"}),
    ({"actor": "pat", "engagement": "mine"}, set()),
]


def resolve(w: World, params: dict[str, str]) -> dict[str, str]:
    ids = {"sam": w.sam.user.id, "pat": w.pat.user.id, "mine": w.mine.id, "second": w.second.id}
    return {k: ids.get(v, v) for k, v in params.items()}


def test_each_filter_alone_and_combined_on_the_page_and_the_export_it_links(app: FastAPI, keys: Keys) -> None:
    w = make_world(app, keys)
    everything = {"obj-alpha", "obj-bravo", "obj-charlie", "obj-delta"}
    with TestClient(app) as client:
        sign_in(app, client, w.advisor)
        for given, expected in FILTERS:
            params = resolve(w, given)
            page = client.get("/audit", params=params)
            assert page.status_code == 200, (given, page.text)
            shown = {o for o in everything if f">{o}</span>" in page.text}
            assert shown == expected, given
            for name, value in params.items():  # the form keeps what was chosen
                assert re.search(
                    rf'(value="{value}" selected|name="{name}"[^>]*value="{value}")', page.text
                ), name
            exported = client.get(link(page.text, "export-csv"))  # the link carries the filters
            rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
            assert ours(rows) == expected, given
            assert ours(export_rows(client, params)) == expected, given


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"since": "2026-02-30"}, "since", "Enter the from date as YYYY-MM-DD."),
        ({"until": "10/03/2026"}, "until", "Enter the to date as YYYY-MM-DD."),
        ({"since": "1999-12-31"}, "since", "From date must be between 1 January 2000 and 31 December 2100."),
        (
            {"since": "2026-03-20", "until": "2026-03-10"},
            "until",
            "The to date must be the same as or after the from date.",
        ),
    ],
)
def test_bad_dates_are_refused_with_a_message_beside_the_field(
    app: FastAPI, keys: Keys, params: dict[str, str], field: str, message: str
) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    with TestClient(app) as client:
        sign_in(app, client, admin)
        page = client.get("/audit", params=params)
        assert page.status_code == 422
        beside = re.search(rf'id="{field}-error">(.*?)</p>', page.text, re.S)
        assert beside and message in html.unescape(beside.group(1))
        assert f'href="#{field}"' in page.text  # the error summary leads to the field
        assert f'value="{params[field]}"' in page.text  # what was typed is kept
        assert "export-csv" not in page.text
        export = client.get("/audit/export.csv", params=params)
        assert export.status_code == 422 and message in html.unescape(export.text)


def test_another_tenants_people_and_engagements_are_not_offered(app: FastAPI, keys: Keys) -> None:
    w = make_world(app, keys)
    other_buyer, stranger_org = org(app, "buyer", "Other Department"), org(app, "supplier", "Stranger Ltd")
    olive = named(app, keys, "buyer_advisor", other_buyer, "Olive Other")
    uma = named(app, keys, "supplier_lead", stranger_org, "Uma Unrelated")
    theirs = engagement(app, other_buyer, stranger_org, "PR 2026 999")
    record(app, by(uma), AuditAction.EVIDENCE_UPLOADED, "obj-theirs", theirs.id, MARCH[0])
    with TestClient(app) as client:
        sign_in(app, client, w.advisor)
        page = html.unescape(client.get("/audit").text)
        assert "Sam Supplier, Acme Secure Ltd" in page and "Pat Bolt, Bolt Systems plc" in page
        assert "Ada Advisor, Department for Tests" in page
        assert "PR 2026 016: Secure transfer PR 2026 016" in page
        for hidden in ("Olive Other", "Uma Unrelated", "Other Department", "Stranger Ltd", "PR 2026 999"):
            assert hidden not in page, hidden
        # Asking for their person or engagement by id shows nothing of theirs.
        assert "obj-theirs" not in client.get("/audit", params={"actor": uma.user.id}).text
        assert ours(export_rows(client, {"engagement": theirs.id})) == set()
    admin = make_person(app.state.engine, keys, "administrator")
    with TestClient(app) as client:
        sign_in(app, client, admin)
        page = html.unescape(client.get("/audit").text)
        assert "Uma Unrelated, Stranger Ltd" in page and "Olive Other, Other Department" in page
        assert olive.user.id in page


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(app.state.engine, "before_cursor_execute", count)


def seed_many(
    app: FastAPI, supplier: Organisation, engagements: list[Engagement], start: int, end: int
) -> None:
    """Records `start`..`end` by as many different people (up to 20) in as many engagements."""
    with session_scope(app.state.engine, write=True) as session:
        users = [
            accounts.create_user(
                session,
                email=f"many{start}-{n}@example.com",
                name=f"Person {start}-{n}",
                organisation_id=supplier.id,
                role="supplier_contributor",
            )
            for n in range(min(end - start, 20))
        ]
        session.flush()
        for n in range(start, end):
            user = users[n % len(users)]
            audit.record(
                session,
                app.state.keys.audit,
                audit.Who(user_id=user.id, org_id=supplier.id, address="198.51.100.9"),
                AuditAction.EVIDENCE_VIEWED,
                object_type="evidence",
                object_id=f"obj-{n}",
                engagement_id=engagements[n % len(engagements)].id,
                at=MARCH[0],
            )
        session.commit()


def test_a_page_costs_the_same_statements_at_10_and_200_records(app: FastAPI, keys: Keys) -> None:
    buyer, supplier = org(app, "buyer", "Counting Department"), org(app, "supplier", "Counting Ltd")
    advisor = named(app, keys, "buyer_advisor", buyer, "Cora Counter")
    engagements = [engagement(app, buyer, supplier, f"PR C{n}") for n in range(5)]
    params = {"action": "evidence_viewed"}
    counts: list[tuple[int, int]] = []
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        client.get("/audit")  # the session's first use may write; count from the second
        for start, end in ((0, 10), (10, 200)):
            seed_many(app, supplier, engagements, start, end)
            with statements(app) as page_statements:
                page = client.get("/audit", params=params)
            with statements(app) as export_statements:
                rows = export_rows(client, params)
            assert page.status_code == 200 and len(rows) == end
            counts.append((len(page_statements), len(export_statements)))
        assert counts[0] == counts[1], counts
        # Paging as before: 100 a page, the older link keeps the filters.
        assert page.text.count("obj-") == 100
        older = link(page.text, "older-events")
        assert "action=evidence_viewed" in older and "before=" in older
        second_page = client.get(older)
        assert second_page.text.count("obj-") == 100 and "obj-0<" in second_page.text


def test_every_action_has_one_sentence_case_label() -> None:
    missing = {str(a) for a in AuditAction} - set(AUDIT_ACTION_LABELS)
    assert not missing, f"add a label to app/domain/audit_labels.py for {sorted(missing)}"
    assert {str(a) for a in Action} <= set(ACCESS_ACTION_LABELS)
    labels = list(LABELS.values())
    assert len(labels) == len(set(labels)), "two actions share a label"
    for text in labels:
        assert text[:1].isupper() and not text.endswith("."), text
    assert action_label("closure_days") == "Closure days"  # an unknown value is still readable


@pytest.mark.parametrize(
    ("user_id", "user_name", "address", "shown"),
    [
        ("u1", "Sam Supplier", "198.51.100.7", "Sam Supplier"),
        ("u1", None, "198.51.100.7", "Deleted account"),
        (None, None, "cli", "Attest (command line)"),
        (None, None, "203.0.113.9", "Not signed in"),
        (None, None, "", "System"),
    ],
)
def test_actor_labels(user_id: str | None, user_name: str | None, address: str, shown: str) -> None:
    assert actor_label(user_id=user_id, user_name=user_name, address=address) == shown
