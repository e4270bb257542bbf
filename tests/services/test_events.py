"""Event notifications below HTTP (app.services.events): each use case records one ledger row
and one in-app notification per recipient in its own transaction, so a rollback or a refused
action leaves nothing and nothing is queued; the rows are handed to the mail queue only once
the transaction commits; recording an event twice adds nothing; a person who switched email
off for that kind still gets the notification in the app; evidence with an expiry date is
reminded like a certificate (a certificate's own file is not reminded twice)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from app import clock
from app.db import session_scope
from app.domain.access import Actor
from app.domain.errors import Denied, InvalidInput
from app.domain.reminders import CATEGORIES
from app.domain.submissions import canonical, fingerprint
from app.domain.workflow import State
from app.models import Certificate, Engagement, Notification, PlanCase, ReminderSent, Submission
from app.services import approvals, audit, changes, events, notifications, reminders
from app.services import certificates as certificate_service
from app.services.caller import Caller
from tests.factories import Person, make_certificate, make_engagement, make_evidence, make_org, make_person

TODAY = clock.today()


@dataclass
class Parties:
    engagement: Engagement
    leads: list[Person]
    advisor: Person
    other_lead: Person  # another supplier's lead: never told anything here


def caller(person: Person) -> Caller:
    actor = Actor(person.user.id, person.user.organisation_id, person.user.role)
    return Caller(actor, audit.Who(actor.user_id, actor.org_id), b"k" * 32)


@pytest.fixture
def dispatched() -> Iterator[list[list[str]]]:
    """What the session hands to the mail queue when it commits (a list per commit)."""
    handed: list[list[str]] = []
    events.dispatch_with(handed.append)
    yield handed
    events.dispatch_with(None)


def parties(app: FastAPI) -> Parties:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer", "Home Office"), make_org(engine, "supplier", "Northwind Ltd")
    leads = [make_person(engine, keys, "supplier_lead", supplier) for _ in range(2)]
    make_person(engine, keys, "supplier_contributor", supplier)  # contributors are not told
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    other_lead = make_person(engine, keys, "supplier_lead")
    return Parties(make_engagement(engine, buyer, supplier), leads, advisor, other_lead)


def submitted(app: FastAPI, engagement: Engagement) -> Submission:
    """Version 1 submitted (awaiting a decision), answering CPS-1.1."""
    data = {"engagement": {"id": engagement.id}, "responses": [{"control_id": "CPS-1.1"}], "risks": []}
    with session_scope(app.state.engine, write=True) as session:
        row = Submission(
            engagement_id=engagement.id,
            version=1,
            cycle=1,
            snapshot=canonical(data).decode(),
            sha256=fingerprint(data),
            officer_name="Dana Chief",
            officer_role="COO",
            submitted_by_id="factory",
            submitted_on=TODAY,
        )
        session.add(row)
        session.add(PlanCase(engagement_id=engagement.id, state=State.SUBMITTED, cycle=1))
        session.commit()
        return row


def reject(session: Session, app: FastAPI, p: Parties, submission: Submission, who: Person) -> None:
    approvals.decide(
        session,
        p.engagement,
        submission,
        caller(who),
        approve=False,
        reasons="No incident contacts.",
        library=app.state.library,
        today=TODAY,
    )


def told(app: FastAPI, person: Person) -> list[tuple[str, str, bool]]:
    """(subject, link, email wanted) of each event recorded for the person."""
    with session_scope(app.state.engine) as session:
        rows = session.exec(select(ReminderSent).where(ReminderSent.recipient_id == person.user.id))
        return [(r.subject, r.link, r.email_wanted) for r in rows]


def in_app(app: FastAPI, person: Person) -> list[str]:
    with session_scope(app.state.engine) as session:
        return [n.subject for n in notifications.listing(session, person.user.id)]


def test_a_rejection_tells_each_lead_once_it_commits_and_queues_their_mail(
    app: FastAPI, dispatched: list[list[str]]
) -> None:
    p = parties(app)
    submission = submitted(app, p.engagement)
    with session_scope(app.state.engine, write=True) as session:
        reject(session, app, p, submission, p.advisor)
        assert dispatched == []  # nothing leaves before the commit
        session.commit()
    for lead in p.leads:
        [(subject, link, wanted)] = told(app, lead)
        assert subject.startswith("Home Office rejected version 1 of the plan for PR ")
        assert "rejection notice RN-" in subject and wanted
        assert link == f"/submissions/{submission.id}/statement"
        assert in_app(app, lead) == [subject]
    assert told(app, p.advisor) == [] and told(app, p.other_lead) == []
    with session_scope(app.state.engine) as session:
        ids = set(session.exec(select(ReminderSent.id)))
    assert len(dispatched) == 1 and set(dispatched[0]) == ids and len(ids) == 2


def test_a_refused_or_invalid_or_rolled_back_action_records_and_queues_nothing(
    app: FastAPI, dispatched: list[list[str]]
) -> None:
    p = parties(app)
    submission = submitted(app, p.engagement)
    with session_scope(app.state.engine, write=True) as session:
        with pytest.raises(Denied):
            reject(session, app, p, submission, p.leads[0])  # a lead cannot decide
        with pytest.raises(InvalidInput):
            approvals.decide(
                session,
                p.engagement,
                submission,
                caller(p.advisor),
                approve=False,
                reasons="",
                library=app.state.library,
                today=TODAY,
            )
        session.commit()
    with session_scope(app.state.engine, write=True) as session:
        reject(session, app, p, submission, p.advisor)
        session.rollback()
        session.commit()
    with session_scope(app.state.engine) as session:
        assert list(session.exec(select(ReminderSent))) == []
        assert list(session.exec(select(Notification))) == []
    assert dispatched == []


def test_the_same_event_twice_is_recorded_once(app: FastAPI, dispatched: list[list[str]]) -> None:
    p = parties(app)
    submission = submitted(app, p.engagement)
    with session_scope(app.state.engine, write=True) as session:
        event = events.plan_submitted(session, p.engagement, submission, p.leads[0].user.id)
        first = events.notify(session, event)
        again = events.notify(session, event)
        session.commit()
    assert len(first) == 1 and again == []
    [(subject, link, _)] = told(app, p.advisor)
    assert subject.startswith("Northwind Ltd submitted version 1 of the security management plan")
    assert link == f"/submissions/{submission.id}"
    assert told(app, p.leads[0]) == []  # the one who submitted is not told of it
    assert dispatched == [first]


def test_email_off_for_a_kind_keeps_the_in_app_notification(
    app: FastAPI, dispatched: list[list[str]]
) -> None:
    p = parties(app)
    submission = submitted(app, p.engagement)
    everything_but_decisions = set(CATEGORIES)
    with session_scope(app.state.engine, write=True) as session:
        notifications.choose_email(session, caller(p.leads[0]), everything_but_decisions - {"plan_decided"})
        session.commit()
    with session_scope(app.state.engine, write=True) as session:
        reject(session, app, p, submission, p.advisor)
        session.commit()
    [(subject, _, wanted)] = told(app, p.leads[0])
    assert not wanted and in_app(app, p.leads[0]) == [subject]
    assert [w for _, _, w in told(app, p.leads[1])] == [True]
    assert len(dispatched) == 1 and len(dispatched[0]) == 1  # only the other lead's mail
    assert reminders.pending_ids(app.state.engine) == dispatched[0]
    with session_scope(app.state.engine) as session:  # the kind is one the settings page offers
        assert notifications.preferences(session, p.leads[0].user.id)["plan_decided"] is False


def test_comments_notices_and_certificates_tell_the_other_side(
    app: FastAPI, dispatched: list[list[str]]
) -> None:
    p = parties(app)
    submission = submitted(app, p.engagement)
    with session_scope(app.state.engine, write=True) as session:
        approvals.add_comment(
            session, p.engagement, submission, caller(p.advisor), control_id="CPS-1.1", body="Which policy?"
        )
        engagement = session.get(Engagement, p.engagement.id)
        assert engagement is not None
        changes.file_notice(
            session,
            engagement,
            caller(p.leads[0]),
            event="c",
            description="A critical vulnerability in the file gateway.",
            aware_on=TODAY.isoformat(),
            today=TODAY,
        )
        draft = certificate_service.CertificateDraft(
            "iso27001", body="BSI", issued_on=(TODAY - timedelta(days=5)).isoformat()
        )
        by_lead = caller(p.leads[0])
        data = certificate_service.check(session, by_lead.actor.org_id, draft, today=TODAY)
        certificate = certificate_service.create(session, by_lead, data)
        session.commit()
    for lead in p.leads:
        [(subject, link, _)] = told(app, lead)
        assert subject.startswith("Home Office commented on CPS-1.1 in version 1 of the plan")
        assert link == f"/submissions/{submission.id}#c-CPS-1.1"
    advised = {link: subject for subject, link, _ in told(app, p.advisor)}
    assert advised[f"/engagements/{p.engagement.id}/plan#changes"].startswith(
        "Northwind Ltd filed change notice 1 for PR "
    )
    assert advised[f"/certificates/{certificate.id}"].startswith("Northwind Ltd added a certificate: ISO")
    assert len(advised) == 2 and told(app, p.other_lead) == []
    assert len(dispatched) == 1 and len(dispatched[0]) == 4


def test_evidence_with_an_expiry_date_is_reminded_like_a_certificate(app: FastAPI) -> None:
    p = parties(app)
    due = date(2026, 3, 1)
    evidence_id = make_evidence(app, p.engagement, p.leads[0], title="Pen test report", expires_on=str(due))
    certificate_file = make_evidence(app, p.engagement, p.leads[0], title="Cert file", expires_on=str(due))
    certificate_id = make_certificate(app.state.engine, p.leads[0].organisation, "iso27001", expires_on=due)
    with session_scope(app.state.engine, write=True) as session:
        row = session.get(Certificate, certificate_id)
        assert row is not None
        row.evidence_id = certificate_file
        session.add(row)
        session.commit()
    sweep = reminders.plan(app.state.engine, as_of=due - timedelta(days=30))
    assert sweep is not None and p.leads[0].organisation.id in sweep.supplier_ids
    for day in (due - timedelta(days=30), due - timedelta(days=7), due):
        reminders.record_certificates(
            app.state.engine, p.leads[0].organisation.id, last=day - timedelta(days=1), as_of=day
        )
    reminded = sorted(s for s, link, _ in told(app, p.leads[0]) if link == f"/evidence/{evidence_id}")
    assert reminded == [
        "The evidence \u201cPen test report\u201d expires in 30 days (2026-03-01)",
        "The evidence \u201cPen test report\u201d expires in 7 days (2026-03-01)",
        "The evidence \u201cPen test report\u201d expires today (2026-03-01)",
    ]
    assert not any(link == f"/evidence/{certificate_file}" for _, link, _ in told(app, p.leads[0]))
    assert told(app, p.advisor) == []  # only the supplier hears of its evidence
    with session_scope(app.state.engine) as session:  # and sees it coming on its due-soon panel
        lead, advisor = (
            Actor(x.user.id, x.user.organisation_id, x.user.role) for x in (p.leads[0], p.advisor)
        )
        soon = notifications.due_soon(session, app.state.library, lead, today=due - timedelta(days=3))
        assert [d.when for d in soon if d.item.link == f"/evidence/{evidence_id}"] == ["in 3 days"]
        assert not any(
            d.item.kind == "evidence_expiry"
            for d in notifications.due_soon(session, app.state.library, advisor, today=due)
        )


def test_a_queue_that_fails_leaves_the_mail_pending_and_the_change_committed(app: FastAPI) -> None:
    def broken(ids: list[str]) -> None:
        raise ConnectionError("the queue's storage is down")

    p = parties(app)
    submission = submitted(app, p.engagement)
    events.dispatch_with(broken)
    try:
        with session_scope(app.state.engine, write=True) as session:
            reject(session, app, p, submission, p.advisor)
            session.commit()  # does not raise: the decision stands
    finally:
        events.dispatch_with(None)
    with session_scope(app.state.engine) as session:
        assert approvals.decision_for(session, submission.id) is not None
    assert len(reminders.pending_ids(app.state.engine)) == 2  # the sweep or `attest remind` sends them
