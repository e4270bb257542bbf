"""Event mail end to end (issue 15, Done when): the lead submits through the plan page and the
buyer's advisor receives an email (a real SMTP server, aiosmtpd) and an in-app notification;
the advisor rejects and each lead does, with links on the port the installation is served on
(ATTEST_BASE_URL http://127.0.0.1:8201). Nothing is mailed inside the request: the request
queues one `attest.reminders.mail` job per recipient (app.jobs.deliver_events, a real SQLite
Huey queue) and a worker sends it; run twice, a job still mails once. A person who switched
email off for a kind is told in the app only; a refused action tells nobody."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app import clock
from app.adapters.jobs import make_huey
from app.adapters.mail import make_mailer
from app.config import Settings
from app.db import session_scope
from app.domain.reminders import CATEGORIES
from app.jobs import Jobs, deliver_events
from app.models import Notification, ReminderSent, Submission
from app.services import events, reminders
from tests.api.test_approval_story import fill_plan
from tests.conftest import make_settings
from tests.factories import Person, make_engagement, make_org, make_person, sign_in
from tests.smtp import Inbox, serve

BASE_URL = "http://127.0.0.1:8201"
MAIL_TASK = "attest.reminders.mail"


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from serve()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp_server: Inbox) -> Settings:
    """Served on port 8201, mailing through the test's SMTP server."""
    return make_settings(
        tmp_path,
        database_url,
        base_url=BASE_URL,
        mail_backend="smtp",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
    )


@pytest.fixture
def worker(app: FastAPI, settings: Settings) -> Iterator[Jobs]:
    """The web process queues event mail (as `attest serve` does); the queue returned is the
    one `attest worker` would read, with the tasks bound to this test's database."""
    deliver_events(settings)
    jobs = Jobs(make_huey(settings), settings, engine=app.state.engine)
    yield jobs
    events.dispatch_with(None)
    jobs.huey.storage.flush_all()


def run_queue(worker: Jobs) -> int:
    """Run every queued mail job, as a worker would; returns how many ran. Other jobs (the
    statement's PDF render) are left out: they are not what this file tests."""
    ran = 0
    while (task := worker.huey.dequeue()) is not None:
        if task.name == MAIL_TASK:
            worker.huey.execute(task)
            ran += 1
    return ran


def mail_jobs_waiting(worker: Jobs) -> int:
    return sum(1 for task in worker.huey.pending() if task.name == MAIL_TASK)


def signed_in(app: FastAPI, person: Person) -> TestClient:
    return sign_in(app, TestClient(app, base_url="http://127.0.0.1:8201"), person)


def submit(app: FastAPI, lead: TestClient, engagement_id: str) -> str:
    fill_plan(lead, app, engagement_id)
    form = {"officer_name": "Dana Chief", "officer_role": "Chief Operating Officer", "confirmed": "yes"}
    response = lead.post(f"/engagements/{engagement_id}/plan/submit", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = lead.get(response.headers["location"]).text  # the GOV.UK confirmation panel (issue 15.9)
    assert 'id="submitted-panel"' in page and "Plan submitted" in page and "Version 1" in page
    with session_scope(app.state.engine) as session:
        row = session.exec(select(Submission).where(Submission.engagement_id == engagement_id)).one()
        return row.id


def reject(advisor: TestClient, submission_id: str) -> int:
    form = {"decision": "reject", "reasons": "The incident process names no out-of-hours contact."}
    response = advisor.post(f"/submissions/{submission_id}/decision", data=form, follow_redirects=False)
    return int(response.status_code)


def open_notification(app: FastAPI, client: TestClient, person: Person) -> str:
    """Open the person's one notification from the notification centre; where it leads."""
    with session_scope(app.state.engine) as session:
        [row] = session.exec(select(Notification).where(Notification.user_id == person.user.id))
    response = client.post(f"/notifications/{row.id}/read?then=open", follow_redirects=False)
    assert response.status_code == 303
    return str(response.headers["location"]).removeprefix(BASE_URL)


def link_in(text: str) -> str:
    found = re.search(r"https?://\S+/submissions/\S+", text)
    assert found, text
    return found.group(0)


def test_the_advisor_hears_of_a_submission_and_the_leads_of_the_rejection_once(
    app: FastAPI, worker: Jobs, smtp_server: Inbox
) -> None:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer", "Home Office"), make_org(engine, "supplier", "Northwind Ltd")
    lead, second_lead = (make_person(engine, keys, "supplier_lead", supplier) for _ in range(2))
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    engagement = make_engagement(engine, buyer, supplier)
    lead_client, advisor_client = signed_in(app, lead), signed_in(app, advisor)

    submission_id = submit(app, lead_client, engagement.id)
    assert smtp_server.messages == []  # never mailed inside the request
    assert mail_jobs_waiting(worker) == 1 and run_queue(worker) == 1
    [mail] = smtp_server.to(advisor.email)
    assert mail.subject.startswith(
        "Attest: Northwind Ltd submitted version 1 of the security management plan"
    )
    assert link_in(mail.body()) == f"{BASE_URL}/submissions/{submission_id}"
    assert f'href="{BASE_URL}/submissions/{submission_id}"' in mail.body("html")
    assert "Northwind Ltd submitted version 1" in advisor_client.get("/notifications").text
    assert open_notification(app, advisor_client, advisor) == f"/submissions/{submission_id}"

    assert reject(advisor_client, submission_id) == 303
    assert len(smtp_server.messages) == 1 and run_queue(worker) == 2
    for person in (lead, second_lead):
        [mail] = smtp_server.to(person.email)
        assert mail.subject.startswith("Attest: Home Office rejected version 1 of the plan for PR ")
        assert "rejection notice RN-" in mail.subject
        assert link_in(mail.body()) == f"{BASE_URL}/submissions/{submission_id}/statement"
        assert "Schedule 2.4 para 4.5" in mail.body()
    assert "Home Office rejected version 1" in lead_client.get("/notifications").text
    assert open_notification(app, lead_client, lead) == f"/submissions/{submission_id}/statement"
    assert lead_client.get(f"/submissions/{submission_id}/statement").status_code == 200  # the link opens

    # The mail job run again for every row (a retry, or the sweep's finish): nothing more is sent.
    with session_scope(engine) as session:
        ids = list(session.exec(select(ReminderSent.id)))
    worker.enqueue_mail(ids)
    assert run_queue(worker) == 3
    assert len(smtp_server.messages) == 3
    assert {tuple(m.recipients) for m in smtp_server.messages} == {
        (advisor.email,),
        (lead.email,),
        (second_lead.email,),
    }


def test_email_off_for_decisions_tells_the_lead_in_the_app_only(
    app: FastAPI, worker: Jobs, smtp_server: Inbox
) -> None:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer", "Home Office"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    engagement = make_engagement(engine, buyer, supplier)
    lead_client, advisor_client = signed_in(app, lead), signed_in(app, advisor)
    settings_page = lead_client.get("/notifications").text
    assert "Plans approved or rejected" in settings_page and "Comments on a submission" in settings_page
    kept = [c for c in CATEGORIES if c != "plan_decided"]
    saved = lead_client.post("/notifications/preferences", data={"email": kept}, follow_redirects=False)
    assert saved.status_code == 303

    submission_id = submit(app, lead_client, engagement.id)
    run_queue(worker)
    assert reject(advisor_client, submission_id) == 303
    assert run_queue(worker) == 0  # nobody to mail
    assert smtp_server.to(lead.email) == []
    assert "Home Office rejected version 1" in lead_client.get("/notifications").text


def test_a_refused_decision_tells_nobody(app: FastAPI, worker: Jobs, smtp_server: Inbox) -> None:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    make_person(engine, keys, "buyer_advisor", buyer)
    outsider = make_person(engine, keys, "buyer_advisor")  # another buyer's advisor
    engagement = make_engagement(engine, buyer, supplier)
    lead_client = signed_in(app, lead)
    submission_id = submit(app, lead_client, engagement.id)
    run_queue(worker)
    before = len(smtp_server.messages)
    assert reject(lead_client, submission_id) in (403, 404)  # the lead cannot decide
    assert reject(signed_in(app, outsider), submission_id) in (403, 404)
    assert mail_jobs_waiting(worker) == 0 and run_queue(worker) == 0
    assert len(smtp_server.messages) == before == 1
    with session_scope(engine) as session:
        kinds = {n.category for n in session.exec(select(Notification))}
    assert kinds == {"plan_submitted"}


def test_with_the_worker_down_attest_remind_sends_what_is_pending(
    app: FastAPI, settings: Settings, smtp_server: Inbox
) -> None:
    """No queue at all (no dispatcher installed): the rejection is recorded and waits; the
    next `attest remind` (or the worker's periodic sweep) mails it, once."""
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer", "Home Office"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    engagement = make_engagement(engine, buyer, supplier)
    submission_id = submit(app, signed_in(app, lead), engagement.id)
    assert reject(signed_in(app, advisor), submission_id) == 303
    assert smtp_server.messages == []
    mailer = make_mailer(settings)
    for _ in range(2):
        reminders.run(engine, mailer, settings, as_of=clock.today())
    told = [m for m in smtp_server.messages if not m.subject.startswith("Attest reminder:")]
    assert sorted(m.recipients[0] for m in told) == sorted([advisor.email, lead.email])  # once each
    assert (
        link_in(smtp_server.to(lead.email)[0].body()) == f"{BASE_URL}/submissions/{submission_id}/statement"
    )
