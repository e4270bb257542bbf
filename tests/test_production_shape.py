"""The production shape, run natively (issue 14, "Done when", first bullet): two `attest serve`
and two `attest worker` processes on one PostgreSQL database, one Redis queue, one SeaweedFS
S3 store and one SMTP server (aiosmtpd), all real, on free ports and the test's own database,
Redis database and bucket.

A supplier lead and a buyer advisor sign in and work alternately through both web processes:
answers, uploads through one process read back through the other, a submission rejected with a
comment, a revision approved. Then a reminder sweep is queued as of a day reminders are due and
one worker is killed with SIGKILL while it holds reminder jobs. The other worker puts the dead
worker's jobs back on the queue (app.adapters.jobs) and finishes the sweep. At the end: every
reminder and event notification was mailed exactly once (by message id, and by recipient and
subject) and is in the notification centre exactly once, every upload reads back from both web
processes, and `attest audit verify` and `attest verify-evidence` are clean.

Like every `[postgres]` case, the shape test exists only when ATTEST_TEST_POSTGRES_URL is set
(`.ci/run` sets it). Redis on 127.0.0.1:6379 is one of the machine's services: without it these
tests fail, saying so, rather than pass unseen.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import col, select

from app import clock, migrate
from app.adapters.catalogue_files import cached_library
from app.adapters.crypto import Keys, keyed_hash
from app.adapters.jobs import ReliableRedisHuey, make_huey
from app.config import Settings
from app.db import make_engine, session_scope
from app.jobs import Jobs
from app.models import Notification, ReminderRun, ReminderSent, User
from tests.api.test_approval_story import DECLARATION
from tests.conftest import CONTROLS, POSTGRES_URL, _psycopg_url
from tests.factories import Person, make_certificate, make_engagement, make_org, make_person
from tests.smtp import Inbox, free_port, smtp_env
from tests.smtp import serve as serve_smtp
from tests.storage.test_s3_store import ACCESS_KEY, REGION, S3Server, s3_server  # noqa: F401
from tests.storage.test_s3_store import SECRET_KEY as S3_SECRET
from tests.test_cli import ATTEST

SECRET = "production-shape-secret-" + "p" * 32
REDIS = "redis://127.0.0.1:6379"
FILLER_ENGAGEMENTS = 100  # units enough that a worker is caught holding some
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


# --- the parts ------------------------------------------------------------------------------


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own."""
    admin = make_engine(_psycopg_url(POSTGRES_URL)).execution_options(isolation_level="AUTOCOMMIT")
    name = f"attest_shape_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_psycopg_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def queue_url() -> Iterator[str]:
    """An empty Redis database (1-15) for the queue, flushed afterwards; fails without Redis."""
    try:
        redis.Redis.from_url(f"{REDIS}/0", socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.fail("Redis is not answering on 127.0.0.1:6379: start it (the queue runs on it)")
    for number in range(15, 0, -1):
        conn = redis.Redis.from_url(f"{REDIS}/{number}")
        if conn.dbsize() == 0 and conn.set("attest-production-shape", "1", nx=True, ex=600):
            break
    else:
        pytest.fail("Redis has no empty database among 1-15 for the queue: flush one")
    try:
        yield f"{REDIS}/{number}"
    finally:
        conn.flushdb()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    yield from serve_smtp()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:  # noqa: F811
    name = f"shape-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@dataclass
class Shape:
    """The running processes and how to reach everything."""

    root: Path
    env: dict[str, str]
    engine: Engine
    queue: redis.Redis
    inbox: Inbox
    web: list[str] = field(default_factory=list)  # base URLs
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        """`attest <args>` as its own node: its own data folder, the shared everything else."""
        folder = self.root / name
        folder.mkdir(exist_ok=True)
        env = {**self.env, "ATTEST_DATA_DIR": str(folder / "var"), **extra}
        with open(folder / "out.log", "wb") as out:
            process = subprocess.Popen(
                [ATTEST, *args], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        return process

    def cli(self, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
        """Operator commands, run side by side from a folder of their own."""
        folder = self.root / "operator"
        folder.mkdir(exist_ok=True)
        env = {**self.env, "ATTEST_DATA_DIR": str(folder / "var")}
        running = [
            (
                args,
                subprocess.Popen([ATTEST, *args], cwd=folder, env=env, stdout=PIPE, stderr=PIPE, text=True),
            )
            for args in commands
        ]
        done = []
        for args, process in running:
            out, err = process.communicate(timeout=60)
            done.append(subprocess.CompletedProcess([ATTEST, *args], process.returncode, out, err))
        return done

    def log(self, name: str) -> str:
        return (self.root / name / "out.log").read_text(errors="replace")[-4000:]

    def settings(self) -> Settings:
        fields = {
            k.removeprefix("ATTEST_").lower(): v for k, v in self.env.items() if k.startswith("ATTEST_")
        }
        return Settings(_env_file=None, data_dir=self.root / "operator" / "var", **fields)  # type: ignore[arg-type]


@pytest.fixture
def shape(
    tmp_path: Path,
    database: str,
    queue_url: str,
    inbox: Inbox,
    bucket: str,
    s3_server: S3Server,  # noqa: F811
) -> Iterator[Shape]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    web_ports = [free_port(), free_port()]
    env.update(
        ATTEST_ENV="test",
        ATTEST_CONTROLS_DIR=str(CONTROLS),
        ATTEST_SECRET_KEY=SECRET,
        ATTEST_BASE_URL=f"http://127.0.0.1:{web_ports[0]}",  # what the balancer in front answers on
        ATTEST_DATABASE_URL=database,
        ATTEST_QUEUE_URL=queue_url,
        ATTEST_WORKER_THREADS="2",
        ATTEST_EVIDENCE_BACKEND="s3",
        ATTEST_S3_ENDPOINT_URL=s3_server.endpoint_url,
        ATTEST_S3_BUCKET=bucket,
        ATTEST_S3_REGION=REGION,
        ATTEST_S3_ACCESS_KEY=ACCESS_KEY,
        ATTEST_S3_SECRET_KEY=S3_SECRET,
        **smtp_env(inbox),
    )
    engine = make_engine(database)
    made = Shape(tmp_path, env, engine, redis.Redis.from_url(queue_url), inbox)
    made.web = [f"http://127.0.0.1:{port}" for port in web_ports]
    try:
        yield made
    finally:
        for process in made.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        engine.dispose()


def wait_until(condition: Callable[[], bool], seconds: float, what: str, shape: Shape) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {name}\n{shape.log(name)}" for name in shape.processes)
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}\n{logs}")
        time.sleep(0.05)


def ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# --- people in a browser-less browser --------------------------------------------------------


@dataclass
class Browser:
    """One person's cookies, used against either web process (cookies ignore the port)."""

    person: Person
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=20))

    def csrf(self, base: str) -> str:
        if "attest_csrf" not in self.client.cookies:
            self.client.get(f"{base}/healthz")
        return keyed_hash(Keys(SECRET).csrf, self.client.cookies["attest_csrf"])

    def sign_in(self, first: str, second: str) -> None:
        """The password on one web process, the one-time code on the other."""
        step = self.client.post(
            f"{first}/sign-in",
            data={
                "email": self.person.email,
                "password": self.person.password,
                "next": "/",
                "csrf_token": self.csrf(first),
            },
        )
        assert step.status_code == 303, step.text
        code = self.client.post(
            f"{second}/sign-in/verify",
            data={"code": self.person.code(), "next": "/", "csrf_token": self.csrf(second)},
        )
        assert code.status_code == 303, code.text
        for base in (first, second):
            me = self.client.get(f"{base}/api/me")
            assert me.status_code == 200 and me.json()["email"] == self.person.email

    def call(self, method: str, base: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf(base)}  # as the pages' htmx sends it
        return self.client.request(method, f"{base}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]


def alternate(shape: Shape) -> Iterator[str]:
    while True:
        yield from shape.web


# --- the journey -----------------------------------------------------------------------------


def journey(shape: Shape, lead: Browser, advisor: Browser, eid: str) -> dict[str, bytes]:
    """Scope nothing, answer everything, upload, submit, reject, revise, approve: each request
    on the other web process from the one before. Returns the uploads by evidence id."""
    a, b = shape.web
    turn = alternate(shape)
    lead.sign_in(a, b)
    advisor.sign_in(b, a)
    for control in cached_library(str(CONTROLS)).catalogue("cps-security-policy").controls:
        saved = lead.call(
            "PUT",
            next(turn),
            f"/api/engagements/{eid}/responses/{control.id}",
            json={"status": "met", "statement": "In place."},
        )
        assert saved.status_code == 200, saved.text
    risk = {
        "title": "Removable media lost in transit",
        "control_ids": [],
        "likelihood": 3,
        "impact": 4,
        "treatment": "Encrypt all media; courier with tracking.",
        "owner": "Head of IT",
        "residual_likelihood": 1,
        "residual_impact": 3,
    }
    assert lead.call("POST", next(turn), f"/api/engagements/{eid}/risks", json=risk).status_code == 201
    incident = {
        "document": "Incidents are logged, triaged within an hour and reported to the buyer.",
        "contacts": [{"name": "Sam Duty", "role": "Duty manager", "email": "duty@northwind.example"}],
    }
    put = lead.call("PUT", next(turn), f"/api/engagements/{eid}/incident-process", json=incident)
    assert put.status_code == 200, put.text
    roles = {"people": [{"kind": "designated_security_contact", "name": "Dana Chief", "board_level": True}]}
    put = lead.call("PUT", next(turn), f"/api/engagements/{eid}/security-roles", json=roles)
    assert put.status_code == 200, put.text

    uploads: dict[str, bytes] = {}
    for n, base in enumerate((a, b)):
        data = PDF + f"% upload {n} through {base}\n".encode() + os.urandom(2048)
        sent = lead.call(
            "POST",
            base,
            f"/api/engagements/{eid}/evidence",
            files={"file": (f"policy-{n}.pdf", data, "application/pdf")},
            data={"title": f"Information security policy {n}"},
        )
        assert sent.status_code == 201, sent.text
        uploads[sent.json()["id"]] = data
    first = next(iter(uploads))
    linked = lead.call(
        "POST", b, f"/api/engagements/{eid}/responses/CPS-1.1/evidence", json={"evidence_id": first}
    )
    assert linked.status_code == 200, linked.text
    assert_readable_everywhere(shape, [lead], uploads)  # the advisor sees it once submitted

    v1 = lead.call("POST", a, f"/api/engagements/{eid}/submissions", json=DECLARATION)
    assert v1.status_code == 201, v1.text
    v1_id = v1.json()["id"]
    queue = advisor.call("GET", b, "/api/reviews").json()["reviews"]
    assert [r["submission_id"] for r in queue] == [v1_id]
    assert_readable_everywhere(shape, [advisor], {first: uploads[first]})  # linked, so submitted
    comment = {"control_id": "CPS-1.1", "body": "Which version of the policy is this?"}
    assert advisor.call("POST", b, f"/api/submissions/{v1_id}/comments", json=comment).status_code == 201
    rejected = advisor.call(
        "POST",
        a,
        f"/api/submissions/{v1_id}/decision",
        json={
            "decision": "reject",
            "reasons": "Policy version unclear.",
            "control_reasons": {"CPS-1.1": "Say which."},
        },
    )
    assert rejected.status_code == 200 and rejected.json()["plan_state"] == "rejected", rejected.text
    revised = lead.call(
        "PUT",
        b,
        f"/api/engagements/{eid}/responses/CPS-1.1",
        json={"status": "met", "statement": "Policy v3."},
    )
    assert revised.status_code == 200, revised.text
    v2 = lead.call("POST", b, f"/api/engagements/{eid}/submissions", json=DECLARATION)
    assert v2.status_code == 201 and v2.json()["version"] == 2, v2.text
    approved = advisor.call(
        "POST",
        a,
        f"/api/submissions/{v2.json()['id']}/decision",
        json={"decision": "approve", "residual_risks_accepted": True, "acknowledge_outstanding": True},
    )
    assert approved.status_code == 200 and approved.json()["plan_state"] == "approved", approved.text
    return uploads


def assert_readable_everywhere(shape: Shape, people: list[Browser], uploads: dict[str, bytes]) -> None:
    for evidence_id, data in uploads.items():
        for person in people:
            for base in shape.web:
                got = person.call("GET", base, f"/api/evidence/{evidence_id}/content")
                assert got.status_code == 200, (person.person.email, base, got.text)
                assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()


# --- what was recorded and what arrived --------------------------------------------------------


def ledger(engine: Engine) -> list[tuple[ReminderSent, str]]:
    """Every reminder and event notification recorded, with its recipient's address."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(ReminderSent, User.email).join(User, col(User.id) == col(ReminderSent.recipient_id))
        ).all()
        return [(row, email) for row, email in rows]


def all_mailed(engine: Engine) -> bool:
    rows = ledger(engine)
    return bool(rows) and all(row.sent_at is not None for row, _ in rows if row.email_wanted)


def holds(queue: redis.Redis, pid: int, task: bytes) -> tuple[bool, bool]:
    """Whether the worker with this pid holds a job of `task` now, and whether it holds the sweep."""
    jobs: list[bytes] = []
    for key in queue.scan_iter(match="huey.inflight.*", count=100):
        if f":{pid}:".encode() in key:
            jobs += queue.lrange(key, 0, -1)
    return any(task in job for job in jobs), any(b"attest.reminders.sweep" in job for job in jobs)


if POSTGRES_URL:  # the production shape is PostgreSQL; collected as the [postgres] cases are

    def test_two_web_and_two_worker_processes_survive_a_killed_worker_and_mail_each_thing_once(
        shape: Shape,
    ) -> None:
        engine, keys = shape.engine, Keys(SECRET)
        # People and data straight into the database, before any process starts.
        buyer = make_org(engine, "buyer", name="Crown Prosecution Service")
        supplier = make_org(engine, "supplier", name="Northwind Ltd")
        lead = Browser(make_person(engine, keys, "supplier_lead", supplier, email="lead@northwind.example"))
        advisor = Browser(make_person(engine, keys, "buyer_advisor", buyer, email="advisor@cps.example"))
        eid = make_engagement(engine, buyer, supplier).id

        for n, base in enumerate(shape.web):
            shape.start(f"web-{n}", "serve", "--port", base.rsplit(":", 1)[1])
        workers = [shape.start(f"worker-{n}", "worker") for n in range(2)]
        # While they start: what the reminder sweep will find (no process reads it before then).
        make_certificate(
            engine,
            supplier,
            "cyber_essentials_plus",
            issued_on=clock.today() - timedelta(days=265),
            expires_on=clock.today() + timedelta(days=100),
        )
        quiet_buyer, quiet_supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
        for _ in range(FILLER_ENGAGEMENTS):  # nobody to tell: units to run, nothing to mail
            make_engagement(engine, quiet_buyer, quiet_supplier)
        wait_until(lambda: all(ready(base) for base in shape.web), 30, "both web processes", shape)

        uploads = journey(shape, lead, advisor, eid)
        first = next(iter(uploads))
        wait_until(lambda: all_mailed(engine), 30, "the event notifications' mail", shape)
        events = len(ledger(engine))
        assert events >= 4  # submitted twice (advisor), commented, rejected, approved (lead)

        # A sweep as of a day reminders are due: the certificate expires in 30 days then.
        due_day = clock.today() + timedelta(days=70)
        jobs = Jobs(make_huey(shape.settings()), shape.settings(), engine=engine)
        sweep = jobs.sweep(due_day.isoformat())  # as an operator or the periodic job queues it
        victim = workers[0]

        def caught_holding_units() -> bool:
            """Freeze the worker (SIGSTOP) and look: killed if it holds reminder units and not the
            sweep itself (whose lease would keep every sweep out for 15 minutes); else let it go on."""
            if holds(shape.queue, victim.pid, b"attest.reminders.engagement") != (True, False):
                return False
            victim.send_signal(signal.SIGSTOP)
            if holds(shape.queue, victim.pid, b"attest.reminders.engagement") == (True, False):
                return True
            victim.send_signal(signal.SIGCONT)
            return False

        wait_until(caught_holding_units, 20, "the first worker to hold reminder units", shape)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        outcome = sweep.get(blocking=True, timeout=30)
        while outcome == "busy":  # the periodic sweep (at minutes 0, 15, 30, 45) held the lease
            time.sleep(0.5)
            outcome = jobs.sweep(due_day.isoformat()).get(blocking=True, timeout=30)
        assert outcome == "planned"

        def swept() -> bool:
            with session_scope(engine) as session:
                run = session.get(ReminderRun, 1)
                done = run is not None and run.last_run_on == due_day
            return done and all_mailed(engine) and shape.queue.llen("huey.redis.attest") == 0

        wait_until(swept, 45, "the surviving worker to finish the sweep the dead one was in", shape)
        assert "jobs of a worker that died back on the queue" in shape.log("worker-1")
        assert not any(shape.queue.scan_iter(match="huey.inflight.*")), "a job is still held"
        # Queued again, the same day sends nothing new.
        assert jobs.sweep(due_day.isoformat()).get(blocking=True, timeout=20) == "evaluated already"
        time.sleep(1.0)

        rows = ledger(engine)
        assert len(rows) > events
        reminder_subjects = [row.subject for row, email in rows if email == lead.person.email]
        assert any("expires in 30 days" in s for s in reminder_subjects), reminder_subjects
        # Each recorded row mailed exactly once: by its message id, and by recipient and subject.
        mailed = list(shape.inbox.messages)
        by_id = Counter(str(m.message["Message-ID"]).split("-", 1)[1].split("@")[0] for m in mailed)
        wanted = {row.id: (row, email) for row, email in rows if row.email_wanted}
        assert by_id == Counter(list(wanted)), "mail and ledger differ"
        expected = Counter(
            (
                email,
                f"Attest: {row.subject}"
                if row.key.startswith("event:")
                else f"Attest reminder: {row.subject}",
            )
            for row, email in wanted.values()
        )
        assert Counter((m.recipients[0], m.subject) for m in mailed) == expected
        assert all(len(m.recipients) == 1 for m in mailed)
        # Each in the notification centre exactly once.
        with session_scope(engine) as session:
            notes = Counter(
                (n.user_id, n.reminder_key)
                for n in session.exec(select(Notification).where(col(Notification.reminder_key).is_not(None)))
            )
        assert notes == Counter((row.recipient_id, row.key) for row, _ in rows)
        shown = lead.call("GET", shape.web[1], "/api/notifications")
        assert shown.status_code == 200

        assert_readable_everywhere(shape, [lead], uploads)
        assert_readable_everywhere(shape, [advisor], {first: uploads[first]})
        audit, evidence = shape.cli(["audit", "verify"], ["verify-evidence"])
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert evidence.returncode == 0, evidence.stdout + evidence.stderr

    # --- the queue's own guarantee, without the processes ------------------------------------------


def test_a_job_held_by_a_dead_worker_goes_back_on_the_queue_and_runs_once(
    queue_url: str, tmp_path: Path
) -> None:
    """Two workers' storages on one Redis queue: the job the first took when it died (its
    heartbeat lapsed) is recovered by the second and runs there once; a finished job leaves
    nothing held; a retry scheduled for later reaches the queue from Redis itself."""
    settings = Settings(_env_file=None, queue_url=queue_url, data_dir=tmp_path)  # type: ignore[call-arg]
    ran: list[str] = []

    def worker() -> tuple[ReliableRedisHuey, Any]:
        huey = make_huey(settings)
        assert isinstance(huey, ReliableRedisHuey)
        return huey, huey.task(name="shape.record")(ran.append)

    (dead, _), (alive, record) = worker(), worker()
    dead.heartbeat()
    alive.heartbeat()
    record("first")
    taken = dead.dequeue()  # taken off the queue; the worker is killed before it runs it
    assert taken is not None and dead.storage.queue_size() == 0
    assert alive.storage.inflight_count() == 1
    assert alive.heartbeat() == 0  # its heartbeat has not lapsed yet: nothing is taken from it
    dead.storage.conn.delete(dead.storage.alive_key)  # ... and now it has (ALIVE_SECONDS passed)
    assert alive.heartbeat() == 1 and alive.heartbeat() == 0
    alive.execute(alive.dequeue())
    assert ran == ["first"] and alive.storage.inflight_count() == 0
    assert alive.dequeue() is None  # nothing left to run twice

    record.schedule(("later",), delay=0.5)  # as a retry with a delay is
    alive.execute(alive.dequeue())  # not due: Huey puts it in the schedule
    assert ran == ["first"] and alive.storage.schedule_size() == 1
    assert alive.read_schedule() == [] and alive.storage.queue_size() == 0  # still not due
    time.sleep(0.6)
    assert alive.read_schedule() == [] and alive.storage.queue_size() == 1  # moved by Redis
    alive.execute(alive.dequeue())
    assert ran == ["first", "later"] and alive.storage.inflight_count() == 0
    alive.storage.stop()
    assert not alive.storage.conn.exists(alive.storage.alive_key)
