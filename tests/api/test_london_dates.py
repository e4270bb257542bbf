"""Dates in London time through the API, the pages and `attest remind`, on a server in UTC.

The clock is travelled to instants given in UTC with the process zone set to UTC (time-machine
sets TZ for a ZoneInfo destination), so a server's own "today" would be the UTC date: every
check below fails if a route, command or page uses the server's date or zone instead of London's.

Schedule 2.4, 2026 (no bank holiday in England between 1 July and 13 August):
- 00:30 BST on Wednesday 1 July 2026 is 23:30 UTC on 30 June: the plan was submitted on 1 July;
  the decision is due 20 Working Days later, Wednesday 29 July (from 30 June it would be the 28th).
- 00:30 BST on Thursday 30 July is 23:30 UTC on the 29th: a decision then is a day late, and the
  10 Working Days for a revised plan run from 30 July to Thursday 13 August (not the 12th).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.clock import today
from app.config import Settings
from app.db import session_scope
from app.models import Engagement
from tests.api.test_approval_story import DECLARATION, deadlines, fill_plan, setup
from tests.factories import Person, make_evidence, sign_in

SERVER_ZONE = ZoneInfo("UTC")


@contextmanager
def at(instant: str, app: FastAPI, *people: tuple[TestClient, Person]) -> Iterator[None]:
    """Travel to `instant` (UTC), the process zone UTC, and sign the clients in afresh."""
    moment = datetime.fromisoformat(instant).replace(tzinfo=SERVER_ZONE)
    with time_machine.travel(moment, tick=False):
        assert date.today() == moment.date()  # the server's own day is the UTC one
        for client, person in people:
            client.cookies.clear()
            sign_in(app, client, person)
        yield


def test_today_is_the_london_date_on_a_server_in_utc() -> None:
    with time_machine.travel(datetime(2026, 6, 30, 23, 30, tzinfo=SERVER_ZONE), tick=False):
        assert date.today() == date(2026, 6, 30)
        assert today() == date(2026, 7, 1)
    with time_machine.travel(datetime(2026, 12, 31, 23, 30, tzinfo=SERVER_ZONE), tick=False):
        assert today() == date(2026, 12, 31)


def test_a_submission_at_0030_bst_counts_from_that_london_day(app: FastAPI) -> None:
    eid, lead, advisor = setup(app)
    supplier, buyer = TestClient(app), TestClient(app)
    with at("2026-06-30T12:00", app, (supplier, lead)):
        fill_plan(supplier, app, eid)

    with at("2026-06-30T23:30", app, (supplier, lead), (buyer, advisor)):  # 00:30 BST, 1 July
        made = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
        assert made.status_code == 201, made.text
        v1 = made.json()
        listed = supplier.get(f"/api/engagements/{eid}/submissions").json()["submissions"]
        assert [s["submitted_on"] for s in listed] == ["2026-07-01"]
        decision = deadlines(buyer, eid)["decision_due"][0]
        assert decision["due_on"] == "2026-07-29" and decision["clause"] == "Schedule 2.4 para 4.5"
        queue = buyer.get("/api/reviews").json()["reviews"]
        assert [(q["submitted_on"], q["decision_due"]) for q in queue] == [("2026-07-01", "2026-07-29")]

    with at("2026-07-29T22:59", app, (buyer, advisor)):  # 23:59 BST on the due day: still due
        assert deadlines(buyer, eid)["decision_due"][0]["state"] == "due"

    with at("2026-07-29T23:30", app, (buyer, advisor)):  # 00:30 BST, 30 July: a day past it
        assert deadlines(buyer, eid)["decision_due"][0]["state"] == "overdue"
        rejected = buyer.post(
            f"/api/submissions/{v1['id']}/decision",
            json={
                "decision": "reject",
                "reasons": "Encryption evidence missing.",
                "control_reasons": {"CPS-1.1": "Attach the certificate."},
            },
        )
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["decision"]["decided_on"] == "2026-07-30"
        due = deadlines(buyer, eid)
        assert due["decision_due"][0]["done_on"] == "2026-07-30" and due["decision_due"][0]["late"] is True
        assert due["revision_due"][0]["due_on"] == "2026-08-13"


def test_a_page_shows_a_time_in_bst(app: FastAPI) -> None:
    eid, lead, _ = setup(app)
    client = TestClient(app)
    with at("2026-06-30T23:30", app, (client, lead)):  # uploaded at 00:30 BST on 1 July
        with session_scope(app.state.engine) as session:
            row = session.get(Engagement, eid)
            assert row is not None
            session.expunge(row)
        evidence_id = make_evidence(app, row, lead)
        page = client.get(f"/evidence/{evidence_id}")
    assert page.status_code == 200
    assert "1 Jul 2026 00:30 BST" in page.text
    assert "23:30" not in page.text and "UTC" not in page.text


def test_remind_without_as_of_evaluates_the_london_day(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import remind as cli_remind

    monkeypatch.setattr(cli_remind, "settings_or_fail", lambda: settings)
    with time_machine.travel(datetime(2026, 7, 29, 23, 30, tzinfo=SERVER_ZONE), tick=False):
        cli_remind.remind_loop(as_of="", every="", as_json=True)
    result = json.loads(capsys.readouterr().out)
    assert result["as_of"] == "2026-07-30"


def test_mail_shows_a_link_expiry_in_london_time(settings: Settings) -> None:
    from app.models import User
    from app.services.account_notices import invitation_mail

    user = User(email="new@example.com", name="New Person", organisation_id="org", role="supplier_lead")
    moment = datetime(2026, 6, 30, 23, 30, tzinfo=ZoneInfo("UTC"))
    mail = invitation_mail(settings, user, link="/invitations/x", by_name="Admin", expires_at=moment)
    assert "until 1 Jul 2026 00:30 BST" in mail.text and "until 1 Jul 2026 00:30 BST" in mail.html
