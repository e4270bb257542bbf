"""`attest remind` as a service, over simulated time: each reminder exactly once, catch-up, concurrency,
crash recovery, preferences, and real SMTP end to end. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.adapters.mail import Message, SmtpMailer
from app.config import Settings
from app.db import session_scope
from app.models import Notification, ReminderSent
from app.services import notifications, reminders
from tests.factories import (
    Person,
    make_certificate,
    make_engagement,
    make_org,
    make_person,
    make_subcontractor,
)
from tests.smtp import Inbox, serve


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from serve()


@dataclass
class RecordingMailer:
    """Keeps every message it is asked to send (thread-safe); optionally fails the first N."""

    fail_first: int = 0
    sent: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: Message) -> None:
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                raise ConnectionError("mail server went away")
            self.sent.append(message)


@dataclass
class World:
    engine: Engine
    settings: Settings
    lead: Person
    advisor: Person
    contributor: Person
    ce_plus: str
    iso: str
    sub_ce: str


@pytest.fixture
def world(app: FastAPI) -> World:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier", name="Northwind Ltd")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    contributor = make_person(engine, keys, "supplier_contributor", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    make_engagement(engine, buyer, supplier)  # effective 2024-07-30
    sub = make_subcontractor(engine, supplier, "Minster Print Ltd", "medium_risk")
    return World(
        engine,
        app.state.settings,
        lead,
        advisor,
        contributor,
        ce_plus=make_certificate(engine, supplier, "cyber_essentials_plus", issued_on=date(2025, 3, 1)),
        iso=make_certificate(engine, supplier, "iso27001", issued_on=date(2023, 6, 30)),
        sub_ce=make_certificate(
            engine, supplier, "cyber_essentials", issued_on=date(2025, 9, 15), subcontractor_id=sub
        ),
    )


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def ledger(engine: Engine) -> list[ReminderSent]:
    with session_scope(engine) as session:
        return list(session.exec(select(ReminderSent)))


def per_recipient(mailer: RecordingMailer) -> Counter[tuple[str, str]]:
    return Counter((m.to, m.message_id) for m in mailer.sent)


CE_PLUS_KEYS = {
    "cert-expiry-60:{}:2026-03-01",
    "cert-expiry-30:{}:2026-03-01",
    "cert-expiry-7:{}:2026-03-01",
    "cert-expiry+0:{}:2026-03-01",
    "cert-expired+7-supplier:{}:2026-03-01",
}


def test_daily_runs_over_a_year_send_each_reminder_exactly_once(world: World) -> None:
    mailer = RecordingMailer()
    for day in days(date(2025, 12, 1), date(2026, 11, 30)):
        result = reminders.run(world.engine, mailer, world.settings, as_of=day)
        assert result.ran and result.failed == 0
    rows = ledger(world.engine)
    assert len(rows) == len({(r.key, r.recipient_id) for r in rows})
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    assert len(mailer.sent) == len(rows)
    assert max(per_recipient(mailer).values()) == 1
    lead_keys = Counter(r.key for r in rows if r.recipient_id == world.lead.user.id)
    for key in CE_PLUS_KEYS:
        assert lead_keys[key.format(world.ce_plus)] == 1
    advisor_keys = {r.key for r in rows if r.recipient_id == world.advisor.user.id}
    assert f"cert-expired+7-buyer:{world.ce_plus}:2026-03-01" in advisor_keys
    assert (
        f"cert-expiry+0:{world.ce_plus}:2026-03-01" not in advisor_keys
    )  # suppliers renew; buyers hear when late
    assert not any(r.recipient_id == world.contributor.user.id for r in rows)
    assert lead_keys[f"cert-submission+0:{engagement_id(world)}:2026-07-30"] == 1
    # The ISO certificate expires 2026-06-30; the sub-contractor's CE on 2026-09-15.
    assert lead_keys[f"cert-expiry+0:{world.iso}:2026-06-30"] == 1
    assert lead_keys[f"cert-expiry-60:{world.sub_ce}:2026-09-15"] == 1
    # Each lapse with no successor is a para 6.6 notice due 2 Working Days later: chased the day
    # before and on the day (never 5 days ahead: the deadline starts when compliance ceases),
    # then escalated. CE Plus: Sunday 1 March 2026 -> Tuesday 3 March. ISO/IEC 27001: Tuesday
    # 30 June -> Thursday 2 July. The sub-contractor's CE: Tuesday 15 September -> Thursday 17.
    for certificate, due in (
        (world.ce_plus, "2026-03-03"),
        (world.iso, "2026-07-02"),
        (world.sub_ce, "2026-09-17"),
    ):
        item = f"certification_notice_due.{certificate}:{due}"
        assert lead_keys[f"certification_notice_due-1:{item}"] == 1
        assert lead_keys[f"certification_notice_due+0:{item}"] == 1
        assert f"certification_notice_due-5:{item}" not in lead_keys
        assert f"certification_notice_due-escalated:{item}" in advisor_keys
    # A second pass over the same days changes nothing.
    for day in days(date(2026, 2, 1), date(2026, 3, 31)):
        reminders.run(world.engine, mailer, world.settings, as_of=day)
    assert len(ledger(world.engine)) == len(rows) and len(mailer.sent) == len(rows)


def engagement_id(world: World) -> str:
    from app.models import Engagement

    with session_scope(world.engine) as session:
        return session.exec(select(Engagement.id)).one()


def test_skipping_a_week_then_one_run_catches_up(world: World) -> None:
    mailer = RecordingMailer()
    for day in days(date(2026, 2, 10), date(2026, 2, 20)):
        reminders.run(world.engine, mailer, world.settings, as_of=day)
    before = {m.subject for m in mailer.sent}
    assert not any("expires in 7 days" in s for s in before)
    result = reminders.run(world.engine, mailer, world.settings, as_of=date(2026, 3, 2))
    assert result.window == (date(2026, 2, 21), date(2026, 3, 2))
    new = [m.subject for m in mailer.sent if m.subject not in before]
    assert any("Cyber Essentials Plus" in s and "expires in 7 days (2026-03-01)" in s for s in new)
    assert any("Cyber Essentials Plus" in s and "expires today (2026-03-01)" in s for s in new)
    assert max(per_recipient(mailer).values()) == 1


def test_two_concurrent_runners_send_nothing_twice(world: World) -> None:
    mailer = RecordingMailer()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            barrier.wait()
            for day in days(date(2026, 1, 1), date(2026, 3, 15)):
                reminders.run(world.engine, mailer, world.settings, as_of=day)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reminders.run(world.engine, mailer, world.settings, as_of=date(2026, 3, 15))
    assert max(per_recipient(mailer).values()) == 1
    keys = {r.key for r in ledger(world.engine) if r.recipient_id == world.lead.user.id}
    assert {k.format(world.ce_plus) for k in CE_PLUS_KEYS} <= keys


def test_without_the_lease_record_and_delivery_still_never_duplicate(world: World) -> None:
    """Belt and braces: two processes that both got past the lease (e.g. it expired mid-run)."""
    mailer = RecordingMailer()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def both() -> None:
        try:
            barrier.wait()
            try:
                reminders.record_due(world.engine, as_of=date(2026, 3, 1))
            except Exception as error:  # the loser of a race may hit the unique constraint
                assert "unique" in str(error).lower() or "duplicate" in str(error).lower(), error
            reminders.deliver_pending(
                world.engine, mailer, world.settings, reminders.RunResult(date(2026, 3, 1))
            )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=both) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(mailer.sent) == len(ledger(world.engine)) > 0
    assert max(per_recipient(mailer).values()) == 1


def test_a_crash_between_record_and_send_is_retried_once(world: World) -> None:
    # The process records (and commits) what is due, then dies before sending anything.
    _, recorded = reminders.record_due(world.engine, as_of=date(2026, 3, 1))
    assert recorded > 0 and all(r.sent_at is None for r in ledger(world.engine))
    mailer = RecordingMailer()
    # The next run (same day, nothing new to compute) sends what was recorded; once.
    result = reminders.run(world.engine, mailer, world.settings, as_of=date(2026, 3, 1))
    assert result.window is None and result.emailed == recorded
    reminders.run(world.engine, mailer, world.settings, as_of=date(2026, 3, 1))
    assert len(mailer.sent) == recorded
    assert max(per_recipient(mailer).values()) == 1


def test_a_failed_send_is_kept_and_sent_by_the_next_run(world: World) -> None:
    failing = RecordingMailer(fail_first=1)
    first = reminders.run(world.engine, failing, world.settings, as_of=date(2026, 3, 1))
    assert first.failed == 1 and first.emailed == first.recorded - 1
    pending = [r for r in ledger(world.engine) if r.sent_at is None]
    assert len(pending) == 1 and pending[0].attempts == 1 and "went away" in pending[0].last_error
    second = reminders.run(world.engine, failing, world.settings, as_of=date(2026, 3, 2))
    assert second.failed == 0
    assert max(per_recipient(failing).values()) == 1
    assert all(r.sent_at is not None for r in ledger(world.engine))


def test_the_lease_keeps_a_second_sender_out(world: World) -> None:
    assert reminders.acquire_lease(world.engine, "a")
    assert not reminders.acquire_lease(world.engine, "b")
    result = reminders.run(world.engine, RecordingMailer(), world.settings, as_of=date(2026, 3, 1), owner="b")
    assert not result.ran
    reminders.release_lease(world.engine, "a")
    assert reminders.acquire_lease(world.engine, "b")


def test_a_dead_senders_lease_expires(world: World) -> None:
    from app.models import utcnow

    long_ago = utcnow() - reminders.LEASE - timedelta(seconds=1)
    assert reminders.acquire_lease(world.engine, "dead", now=long_ago)
    assert reminders.acquire_lease(world.engine, "alive")
    assert not reminders.acquire_lease(world.engine, "third")


def test_email_off_still_notifies_in_app(world: World) -> None:
    with session_scope(world.engine, write=True) as session:
        notifications.set_preferences(session, world.lead.user.id, {"escalation"})
        session.commit()
    mailer = RecordingMailer()
    reminders.run(world.engine, mailer, world.settings, as_of=date(2026, 3, 1))
    assert not [m for m in mailer.sent if m.to == world.lead.email]
    with session_scope(world.engine) as session:
        notes = list(session.exec(select(Notification).where(Notification.user_id == world.lead.user.id)))
    assert any("expires today" in n.subject for n in notes)


def test_reminders_arrive_over_real_smtp(world: World, smtp_server: Inbox) -> None:
    settings = world.settings.model_copy(update={"base_url": "https://attest.example.gov.uk"})
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, "Attest <noreply@attest.example.gov.uk>")
    reminders.run(world.engine, mailer, settings, as_of=date(2026, 3, 1))
    reminders.run(world.engine, mailer, settings, as_of=date(2026, 3, 8))
    to_lead = smtp_server.to(world.lead.email)
    subjects = [m.subject for m in to_lead]
    assert (
        "Attest reminder: The Cyber Essentials Plus certificate of Northwind Ltd expires today (2026-03-01)"
        in subjects
    )
    assert (
        "Attest reminder: The Cyber Essentials Plus certificate of Northwind Ltd "
        "expired 7 days ago (2026-03-01)" in subjects
    )
    link = f"https://attest.example.gov.uk/certificates/{world.ce_plus}"
    today = next(m for m in to_lead if "expires today" in m.subject)
    assert link in today.body("plain") and f'href="{link}"' in today.body("html")
    to_advisor = smtp_server.to(world.advisor.email)
    # Besides the expiry, the lapse is a Schedule 2.4 para 6.6 notice due within 2 Working Days
    # of Sunday 1 March 2026 (Monday 2, Tuesday 3 March): not filed, so escalated to the buyer.
    assert sorted(m.subject for m in to_advisor if "Cyber Essentials Plus" in m.subject) == [
        "Attest reminder: Notice of lost certification: Cyber Essentials Plus of Northwind Ltd"
        " expired on 2026-03-01 is overdue (escalated) (2026-03-03)",
        "Attest reminder: The Cyber Essentials Plus certificate of Northwind Ltd "
        "expired 7 days ago (2026-03-01)",
    ]
    assert (
        "Attest reminder: Notice of lost certification: Cyber Essentials Plus of Northwind Ltd"
        " expired on 2026-03-01 is due today (2026-03-03)" in subjects
    )
    assert smtp_server.to(world.contributor.email) == []
    assert len(smtp_server.messages) == len(ledger(world.engine))


def test_due_soon_never_calls_a_target_or_an_unrecorded_isms_overdue() -> None:
    """Call Off Schedule 7's approval period is a shared target (short form 4.3.2, long form 4.3);
    Attest records no ISMS submission (long form 3.1), so it cannot say the ISMS is late."""
    from app.domain.reminders import Item

    def when(kind: str, days: int) -> str:
        item = Item(kind, "x", date(2027, 1, 1), "s", "/", "o")
        return notifications.DueSoon(item, days).when

    assert when("approval_target", -3) == "3 days ago (a target, not a deadline)"
    assert when("approval_target", 0) == "today (a target)"
    assert when("approval_target", 1) == "in 1 day (a target)"
    assert when("isms_due", -1) == "1 day ago (Attest does not record the submission)"
    assert when("revision_due", -2) == "2 days overdue"
    assert when("certification_notice_due", 2) == "in 2 days"
