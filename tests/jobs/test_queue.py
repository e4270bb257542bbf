"""The job queue with real consumers: SqliteHuey on a file and RedisHuey on 127.0.0.1:6379 (a
queue name of its own per test, flushed after), real SMTP (aiosmtpd). The reminder sweep fans
out one job per engagement (and per supplier's certificates), every reminder arrives exactly
once, a mail job that fails mid-way is retried and sends once, and two workers on one queue
run the periodic sweep once. Runs on SQLite and PostgreSQL (the database) for both queues."""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from huey import Huey  # type: ignore[import-untyped]
from sqlalchemy.engine import Engine
from sqlmodel import select

from app import clock
from app.adapters.jobs import make_huey
from app.adapters.mail import Message, SmtpMailer
from app.config import Settings
from app.db import session_scope
from app.jobs import Jobs
from app.models import ReminderRun, ReminderSent
from app.services import metrics
from tests.factories import Person, make_certificate, make_engagement, make_org, make_person
from tests.smtp import Inbox, serve

QUEUES = ("sqlite", "redis")


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from serve()


@pytest.fixture(params=QUEUES)
def queue_settings(request: pytest.FixtureRequest, app: FastAPI, tmp_path: Path) -> Iterator[Settings]:
    """Settings whose queue is a fresh SQLite file, or a Redis queue no other test uses."""
    settings: Settings = app.state.settings
    if request.param == "redis":
        settings = settings.model_copy(update={"queue_url": "redis://127.0.0.1:6379/0"})
    else:
        settings = settings.model_copy(update={"data_dir": tmp_path / "queue"})
    yield settings


@pytest.fixture
def queue_name() -> Iterator[str]:
    yield f"attest-test-{uuid.uuid4().hex[:12]}"


def new_huey(settings: Settings, name: str) -> Huey:
    return make_huey(settings, name=name)


@pytest.fixture
def cleanup(queue_settings: Settings, queue_name: str) -> Iterator[None]:
    yield
    new_huey(queue_settings, queue_name).storage.flush_all()


@dataclass
class FlakyMailer:
    """Real SMTP; the first `fail_first` sends raise after connecting (the job dies mid-send)."""

    real: SmtpMailer
    fail_first: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: Message) -> None:
        with self.lock:
            fail = self.fail_first > 0
            if fail:
                self.fail_first -= 1
                self.failures += 1
        if fail:
            raise ConnectionError("the worker died mid-send")
        self.real.send(message)


@contextmanager
def consumer(huey: Huey, *, periodic: bool = False) -> Iterator[object]:
    """A real Huey consumer (2 threads) in this process; the signal handlers it sets are put back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    running = huey.create_consumer(
        workers=2, worker_type="thread", periodic=periodic, initial_delay=0.02, max_delay=0.2
    )
    running.start()
    try:
        yield running
    finally:
        running.stop(graceful=True)
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the queue did not finish in time")


def idle(huey: Huey, engine: Engine, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = ledger(engine)
        return (
            len(rows) >= expected > 0
            and all(r.sent_at is not None for r in rows if r.email_wanted)
            and huey.pending_count() == 0
        )

    return check


def ledger(engine: Engine) -> list[ReminderSent]:
    with session_scope(engine) as session:
        return list(session.exec(select(ReminderSent)))


@dataclass
class Tenants:
    leads: list[Person]
    advisors: list[Person]


def two_tenants(app: FastAPI, *, certificates_issued: date) -> Tenants:
    """Two buyers, each with one supplier and engagement (effective 2024-07-30), a lead, an
    advisor, and a Cyber Essentials Plus certificate (a year's validity)."""
    engine, keys = app.state.engine, app.state.keys
    leads, advisors = [], []
    for n in range(2):
        buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier", name=f"Tenant {n} Ltd")
        leads.append(make_person(engine, keys, "supplier_lead", supplier))
        advisors.append(make_person(engine, keys, "buyer_advisor", buyer))
        make_engagement(engine, buyer, supplier)
        make_certificate(engine, supplier, "cyber_essentials_plus", issued_on=certificates_issued)
    return Tenants(leads, advisors)


def assert_each_once(inbox: Inbox, engine: Engine) -> None:
    mailed = [r for r in ledger(engine) if r.email_wanted]
    assert len(inbox.messages) == len(mailed) > 0
    ids = Counter((tuple(m.recipients), str(m.message["Message-ID"])) for m in inbox.messages)
    assert max(ids.values()) == 1
    assert all(r.sent_at is not None for r in mailed)


def test_the_sweep_fans_out_per_engagement_and_every_reminder_arrives_once(
    app: FastAPI,
    queue_settings: Settings,
    queue_name: str,
    cleanup: None,
    smtp_server: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenants = two_tenants(app, certificates_issued=date(2025, 3, 1))  # both expire 2026-03-01
    engine = app.state.engine
    huey = new_huey(queue_settings, queue_name)
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, "Attest <noreply@attest.example>")
    jobs = Jobs(huey, queue_settings, engine=engine, mailer=mailer, retry_delay=0.5)
    with caplog.at_level(logging.INFO, logger="attest.jobs"), consumer(huey):
        jobs.sweep("2026-03-01", queued_at=time.time())
        wait_until(lambda: bool(ledger(engine)) and idle(huey, engine, len(ledger(engine)))())
        time.sleep(0.3)  # anything still in flight would show as a duplicate below
    planned = [r.getMessage() for r in caplog.records if "jobs queued" in r.getMessage()]
    assert planned == ["reminder sweep 2026-02-22 to 2026-03-01: 2 engagement and 2 certificate jobs queued"]
    assert_each_once(smtp_server, engine)
    for lead in tenants.leads:  # each tenant's lead heard of its own certificate, once
        subjects = [m.subject for m in smtp_server.to(lead.email)]
        assert len([s for s in subjects if "expires today (2026-03-01)" in s]) == 1
        assert all(lead.organisation.name in s for s in subjects if "certificate of" in s)
    with session_scope(engine) as session:
        run = session.get(ReminderRun, 1)
        assert run is not None and run.last_run_on == date(2026, 3, 1)  # moved once every unit finished
    # The same day again: nothing new is recorded or sent.
    before = len(smtp_server.messages)
    with consumer(huey):
        jobs.sweep("2026-03-01", queued_at=time.time())
        wait_until(lambda: huey.pending_count() == 0)
        time.sleep(0.5)
    assert len(smtp_server.messages) == before


def test_a_mail_job_that_dies_mid_send_is_retried_and_sends_once(
    app: FastAPI, queue_settings: Settings, queue_name: str, cleanup: None, smtp_server: Inbox
) -> None:
    two_tenants(app, certificates_issued=date(2025, 3, 1))
    engine = app.state.engine
    huey = new_huey(queue_settings, queue_name)
    real = SmtpMailer(smtp_server.host, smtp_server.port, "Attest <noreply@attest.example>")
    mailer = FlakyMailer(real, fail_first=1)
    jobs = Jobs(huey, queue_settings, engine=engine, mailer=mailer, retry_delay=0.5)
    with consumer(huey):
        jobs.sweep("2026-03-01", queued_at=time.time())
        wait_until(lambda: bool(ledger(engine)) and idle(huey, engine, len(ledger(engine)))())
        time.sleep(0.3)
    assert mailer.failures == 1  # the failure happened
    assert_each_once(smtp_server, engine)
    retried = [r for r in ledger(engine) if r.attempts == 2]
    assert (len(retried) == 1 and "died mid-send" in retried[0].last_error) or retried[0].last_error == ""
    assert sorted(r.attempts for r in ledger(engine) if r.email_wanted).count(1) == len(ledger(engine)) - 1


def test_two_workers_on_one_queue_run_the_periodic_sweep_once(
    app: FastAPI,
    queue_settings: Settings,
    queue_name: str,
    cleanup: None,
    smtp_server: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each worker's scheduler enqueues the periodic sweep at the quarter hour (as Huey's
    scheduler does every minute); only one of them sweeps."""
    today = clock.today()
    two_tenants(app, certificates_issued=today.replace(year=today.year - 1) - timedelta(days=0))
    engine = app.state.engine
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, "Attest <noreply@attest.example>")
    workers = []
    for _ in range(2):
        huey = new_huey(queue_settings, queue_name)
        workers.append((huey, Jobs(huey, queue_settings, engine=engine, mailer=mailer, retry_delay=0.5)))
    quarter = datetime.utcnow().replace(minute=0, second=0, microsecond=0)
    with (
        caplog.at_level(logging.INFO, logger="attest.jobs"),
        consumer(workers[0][0]) as first,
        consumer(workers[1][0]) as second,
    ):
        for running in (first, second):
            running._create_scheduler().enqueue_periodic_tasks(quarter)  # type: ignore[attr-defined]
        wait_until(lambda: bool(ledger(engine)) and idle(workers[0][0], engine, len(ledger(engine)))())
        time.sleep(0.5)
    planned = [r.getMessage() for r in caplog.records if "jobs queued" in r.getMessage()]
    assert len(planned) == 1, planned
    assert_each_once(smtp_server, engine)
    assert any("expires today" in m.subject for m in smtp_server.messages)


def test_metrics_read_the_queue_depth(
    app: FastAPI, queue_settings: Settings, queue_name: str, cleanup: None
) -> None:
    huey = new_huey(queue_settings, queue_name)
    jobs = Jobs(huey, queue_settings, engine=app.state.engine)
    with session_scope(app.state.engine) as session:
        assert metrics.job_queue_depth(session, queue=huey) == 0
        assert metrics.job_queue_oldest_age_seconds(session, now=clock.now(), queue=huey) is None
        queued = time.time() - 30
        jobs.mail("no-such-row", queued_at=queued)
        jobs.mail("no-such-row-either", queued_at=time.time())
        assert metrics.job_queue_depth(session, queue=huey) == 2
        age = metrics.job_queue_oldest_age_seconds(session, now=clock.now(), queue=huey)
        assert age is not None and 29 <= age < 60
