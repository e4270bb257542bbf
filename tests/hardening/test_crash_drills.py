"""Crash and fault drills (issue 19 item 3), on SQLite and, when ATTEST_TEST_POSTGRES_URL is set,
PostgreSQL.

The crash drill serves Attest as real processes (two `attest serve`, `attest worker`, `attest remind`)
with a real SMTP server (aiosmtpd), and drives uploads of random bytes streamed from disk (sizes
drawn from 1-150 MB), answer edits, a plan submission and a reminder run. A fixed seed
(HARDENING_CRASH_SEED, printed) decides the sizes, the order and where `kill -9` strikes: the web
process part-way through an upload's body (at a drawn byte), just after a body was sent (while
the server hashes, fsyncs and commits), or a few milliseconds into an answer save or the
submission; the worker between operations and while it mails the submission's notifications;
the reminder run at a drawn moment. Whatever was killed is restarted and whatever was not
acknowledged is sent again. Afterwards every acknowledged upload downloads with its SHA-256 and
is stored once, every acknowledged answer holds its last statement, the submission exists once,
each recorded mail reached the SMTP server exactly once (by Message-ID), and `attest
verify-evidence` and `attest audit verify` exit 0.

A sender killed mid-run keeps the reminder lease for 15 minutes and a mail it had claimed for 10
(app.services.reminders): the drill does not sleep that long but moves those two times back
(`let_time_pass`), which is all that waiting would change.

Sizes: `make test-hardening` runs 20 uploads, the sum capped at HARDENING_CRASH_CAP_MB (1024 MB
there: the drawn sizes are scaled down together when they add up to more); the default suite
runs 5 uploads capped at 100 MB.

The fault drills: a full disk (a 4 MB tmpfs mounted under the evidence folder; RLIMIT_FSIZE on
the test process when mounting is not permitted) refuses the upload with 507 and a message,
leaving no row and no partial file, and the next upload works; a dropped database connection
(PostgreSQL: the request's backend terminated with pg_terminate_backend while its transaction
waits on a lock; SQLite, which has no connection to drop: the disk under the database file filled
up, a 16 MB tmpfs, so the write fails with SQLITE_FULL) answers 503 with a message, writes
nothing, and the next request succeeds.

The web process starts in seconds on an idle machine and in tens of them on a loaded one, so the
drill runs two web processes on the one database, as behind a balancer: a request after a kill
goes to the other process while the killed one starts again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app import clock
from app.config import Settings
from app.db import make_engine, session_scope
from app.models import (
    AuditEvent,
    ControlResponse,
    Evidence,
    ReminderRun,
    ReminderSent,
    ResponseChange,
    Submission,
    utcnow,
)
from app.services import sessions
from app.services.reminders import CLAIM_TIMEOUT, LEASE
from tests.api.test_approval_story import DECLARATION, fill_plan
from tests.conftest import built_app, make_settings
from tests.factories import make_certificate, make_engagement, make_org, make_person, sign_in
from tests.hardening.test_backup_restore import env_of
from tests.smtp import Inbox, free_port, smtp_env
from tests.smtp import serve as serve_smtp
from tests.test_cli import ATTEST

SEED = int(os.environ.get("HARDENING_CRASH_SEED", "20261203"))
UPLOADS = int(os.environ.get("HARDENING_CRASH_UPLOADS", "5"))
CAP_MB = int(os.environ.get("HARDENING_CRASH_CAP_MB", "100"))
EDITS = 12
MB = 1024 * 1024
ATTEMPTS = 8


# --- the processes -----------------------------------------------------------------------------


@dataclass
class Node:
    """One `attest` process that the drill kills and starts again."""

    name: str
    args: list[str]
    env: dict[str, str]
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with open(self.folder / f"{self.name}.log", "ab") as out:
            self.process = subprocess.Popen(
                [ATTEST, *self.args], cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> bool:
        """SIGKILL; True when it was running."""
        if not self.alive():
            return False
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        return True

    def log(self) -> str:
        return (self.folder / f"{self.name}.log").read_text(errors="replace")[-3000:]


@dataclass
class Drill:
    """Two web processes on one database, as behind a balancer: requests go to the current one;
    when it is killed the next request goes to the other while it starts again (a start takes
    seconds, and on a loaded machine tens of them). One worker."""

    root: Path
    env: dict[str, str]
    engine: Engine
    webs: list[tuple[Node, str]]  # each web process and its base URL
    worker: Node
    rng: random.Random
    current: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)  # where the time went, by kind
    first_attempt: bool = True  # faults strike first attempts; retries run (each start costs seconds)

    @property
    def web(self) -> Node:
        return self.webs[self.current][0]

    def url(self, path: str) -> str:
        return self.webs[self.current][1] + path

    def strikes(self, probability: float) -> bool:
        """A seeded draw (made on every attempt, so the sequence stays the same)."""
        return self.rng.random() < probability and self.first_attempt

    def up(self) -> None:
        """Start whatever is not running; wait until a web process is ready and make it current."""
        if not self.worker.alive():
            self.worker.start()
        for node, _ in self.webs:
            if not node.alive():
                node.start()
        began, deadline = time.monotonic(), time.monotonic() + 120
        while True:
            for offset in range(len(self.webs)):
                index = (self.current + offset) % len(self.webs)
                if self.webs[index][0].alive() and ready(self.webs[index][1]):
                    self.current = index
                    self.seconds["waiting for a web process"] += time.monotonic() - began
                    return
            if time.monotonic() > deadline or not any(node.alive() for node, _ in self.webs):
                logs = "\n".join(node.log() for node, _ in self.webs)
                raise AssertionError(f"no web process started\n{logs}")
            time.sleep(0.05)

    def kill(self, node: Node) -> None:
        if node.kill():
            self.kills[node.name.split("-")[0]] += 1

    def later(self, node: Node, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.kill, args=(node,))
        timer.start()
        return timer

    def attest(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ATTEST, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def token_for(engine: Engine, user_id: str) -> dict[str, str]:
    from app.models import User

    with session_scope(engine, write=True) as session:
        user = session.get(User, user_id)
        assert user is not None
        _, token = sessions.create_token(session, user, name="crash drill", expires_days=1, now=utcnow())
        session.commit()
    return {"Authorization": f"Bearer {token}"}


# --- the uploads ---------------------------------------------------------------------------------


@dataclass
class File:
    path: Path
    size: int
    sha256: str


def draw_sizes(rng: random.Random, count: int, cap_mb: int) -> list[int]:
    """Sizes drawn from 1-150 MB, scaled down together when they add up to more than the cap."""
    sizes = [rng.randint(1 * MB, 150 * MB) for _ in range(count)]
    total = sum(sizes)
    if total > cap_mb * MB:
        sizes = [max(MB, size * cap_mb * MB // total) for size in sizes]
    return sizes


def make_file(path: Path, size: int, rng: random.Random) -> File:
    """A PDF header, then random bytes (from the seeded generator), written in 4 MB pieces."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        written = 0
        head = b"%PDF-1.7\n% crash drill\n"
        handle.write(head)
        digest.update(head)
        written += len(head)
        while written < size:
            piece = rng.randbytes(min(4 * MB, size - written))
            handle.write(piece)
            digest.update(piece)
            written += len(piece)
    return File(path, size, digest.hexdigest())


BOUNDARY = "crash-drill-boundary-7d1e0f"


def body_parts(file: File, title: str) -> tuple[bytes, bytes]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{title}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="control_ids"\r\n\r\nCPS-1.1\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{file.path.name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def streamed(file: File, title: str, kill_at: int | None, kill: Callable[[], None]) -> Iterator[bytes]:
    """The multipart body read from disk in 1 MB pieces; `kill` runs once `kill_at` bytes of the
    whole body have been handed to the connection (at the end: once all of it has)."""
    head, tail = body_parts(file, title)
    sent = 0

    def pieces() -> Iterator[bytes]:
        yield head
        with file.path.open("rb") as handle:
            while piece := handle.read(MB):
                yield piece
        yield tail

    for piece in pieces():
        if kill_at is not None and sent <= kill_at < sent + len(piece):
            cut = kill_at - sent
            if cut:
                yield piece[:cut]
            kill()
            kill_at = None
            yield piece[cut:]
        else:
            yield piece
        sent += len(piece)
    if kill_at is not None:
        kill()


def body_length(file: File, title: str) -> int:
    head, tail = body_parts(file, title)
    return len(head) + file.size + len(tail)


# --- time, as a dead sender's lease and claims see it -------------------------------------------


SENDING_SECONDS = 10  # a live sender has sent (or given back) a mail it claimed this long ago


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def let_time_pass(engine: Engine) -> None:
    """What waiting out a dead sender's lease (15 min) and mail claims (10 min) would change: the
    lease moves back only when its owner's process is gone (owner "host:pid:..."), a claim only
    when it is older than a live sender takes to send (a killed sender's, then)."""
    shift = max(LEASE, CLAIM_TIMEOUT) + timedelta(minutes=1)
    with session_scope(engine, write=True) as session:
        run = session.get(ReminderRun, 1)
        owner = run.lease_owner.split(":") if run is not None else []
        if (
            run is not None
            and run.lease_until is not None
            and len(owner) >= 3
            and not pid_alive(int(owner[1]))
        ):
            run.lease_until = run.lease_until - shift
            session.add(run)
        stranded = select(ReminderSent).where(
            col(ReminderSent.sent_at).is_(None),
            col(ReminderSent.claimed_at) < utcnow() - timedelta(seconds=SENDING_SECONDS),
        )
        for claim in session.exec(stranded):  # in Python: SQLite's `text - interval` is a number
            assert claim.claimed_at is not None
            claim.claimed_at = claim.claimed_at - shift
            session.add(claim)
        session.commit()


def ledger(engine: Engine) -> list[ReminderSent]:
    with session_scope(engine) as session:
        return list(session.exec(select(ReminderSent)).all())


def unsent(engine: Engine) -> list[ReminderSent]:
    return [row for row in ledger(engine) if row.email_wanted and row.sent_at is None]


# --- the crash drill -----------------------------------------------------------------------------


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    yield from serve_smtp()


def test_kill_9_during_uploads_edits_a_submission_and_a_reminder_run_loses_and_repeats_nothing(
    app: FastAPI, settings: Settings, backend: str, inbox: Inbox, tmp_path: Path
) -> None:
    print(f"crash drill seed {SEED} (HARDENING_CRASH_SEED), {UPLOADS} uploads capped at {CAP_MB} MB")
    rng = random.Random(f"{SEED}-{backend}")
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    make_person(engine, keys, "buyer_advisor", buyer)  # told of the submission
    drilled, ready_plan = make_engagement(engine, buyer, supplier), make_engagement(engine, buyer, supplier)
    fill_plan(sign_in(app, TestClient(app), lead), app, ready_plan.id)
    today = clock.today()
    make_certificate(
        engine,
        supplier,
        "cyber_essentials_plus",
        issued_on=today - timedelta(days=265),
        expires_on=today + timedelta(days=100),
    )
    due_day = today + timedelta(days=70)  # the certificate expires in 30 days then
    headers = token_for(engine, lead.user.id)
    controls = [c.id for c in app.state.library.catalogue("cps-security-policy").controls][:6]

    files_dir = tmp_path / "files"
    files_dir.mkdir()
    sizes = draw_sizes(rng, UPLOADS, CAP_MB)
    files = [make_file(files_dir / f"upload-{n:02d}.pdf", size, rng) for n, size in enumerate(sizes)]

    ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env.update(env_of(settings))
    env.update(
        ATTEST_ENV="test",
        ATTEST_BASE_URL=f"http://127.0.0.1:{ports[0]}",  # what the balancer answers on
        ATTEST_WORKER_THREADS="2",
        ATTEST_MAX_UPLOAD_MB="160",
        **smtp_env(inbox),
    )
    root = tmp_path / "nodes"
    root.mkdir()
    webs = [
        (
            Node(f"web-{n}", ["serve", "--port", str(port), "--workers", "1"], env, root),
            f"http://127.0.0.1:{port}",
        )
        for n, port in enumerate(ports)
    ]
    drill = Drill(root, env, engine, webs, Node("worker", ["worker"], env, root), rng)

    operations: list[tuple[str, Any]] = [("upload", n) for n in range(UPLOADS)]
    operations += [
        ("edit", (controls[n % len(controls)], f"Edit {n}: reviewed by the drill.")) for n in range(EDITS)
    ]
    rng.shuffle(operations)
    operations.insert(rng.randint(len(operations) // 2, len(operations)), ("submit", None))
    operations.insert(rng.randint(len(operations) // 2, len(operations)), ("remind", None))

    uploaded: dict[int, str] = {}  # file number -> acknowledged evidence id
    answers: dict[str, str] = {}  # control -> last acknowledged statement
    submission: list[str] = []
    reminder_runs: list[dict[str, Any]] = []
    started = time.monotonic()
    client = httpx.Client(headers=headers, timeout=httpx.Timeout(120, connect=10))
    try:
        drill.up()
        for kind, argument in operations:
            if rng.random() < 0.15:
                drill.kill(drill.worker)  # between operations: whatever it was doing
            for attempt in range(ATTEMPTS):
                began = time.monotonic()
                drill.first_attempt = attempt == 0
                drill.up()
                drill.seconds["restarts"] += time.monotonic() - began
                began = time.monotonic()
                if attempt:
                    drill.retries[kind] += 1
                if kind == "upload":
                    done = upload(drill, client, drilled.id, argument, files[argument])
                    if done:
                        uploaded[argument] = done
                elif kind == "edit":
                    control, statement = argument
                    done = edit(drill, client, drilled.id, control, statement)
                    if done:
                        answers[control] = statement
                elif kind == "submit":
                    done = submit(drill, client, ready_plan.id)
                    if done:
                        submission.append(done)
                else:
                    result = remind(drill, due_day.isoformat())
                    done = "ok" if result is not None else None
                    if result is not None:
                        reminder_runs.append(result)
                drill.seconds[kind] += time.monotonic() - began
                if done:
                    break
            else:
                raise AssertionError(
                    f"{kind} {argument!r} not acknowledged after {ATTEMPTS} attempts\n"
                    f"--- web\n{drill.web.log()}\n--- worker\n{drill.worker.log()}"
                )

        # Recovery: everything running, every recorded mail sent (once).
        drill.up()
        deadline = time.monotonic() + 120
        while unsent(engine):
            if time.monotonic() > deadline:
                raise AssertionError(f"mail never sent: {unsent(engine)}\n{drill.worker.log()}")
            result = remind(drill, due_day.isoformat(), kill=False)  # sends what is unclaimed
            if result is not None:
                reminder_runs.append(result)
            time.sleep(1)
            let_time_pass(engine)  # a dead sender's claims and lease
        seconds = time.monotonic() - started
        assert reminder_runs, "no reminder run finished"

        # Every acknowledged upload: there once, downloads with its SHA-256.
        assert len(uploaded) == UPLOADS
        with session_scope(engine) as session:
            stored = session.exec(select(Evidence).where(Evidence.supplier_org_id == supplier.id)).all()
        assert Counter(e.sha256 for e in stored) == Counter(f.sha256 for f in files), (
            "an upload twice or lost"
        )
        for number, evidence_id in uploaded.items():
            digest = hashlib.sha256()
            with client.stream("GET", drill.url(f"/api/evidence/{evidence_id}/content")) as got:
                assert got.status_code == 200, got.read()[:300]
                for piece in got.iter_bytes(MB):
                    digest.update(piece)
            assert digest.hexdigest() == files[number].sha256, f"upload {number} changed"

        # Every acknowledged answer holds its last statement, each save recorded once.
        with session_scope(engine) as session:
            for control, statement in answers.items():
                row = session.exec(
                    select(ControlResponse).where(
                        ControlResponse.engagement_id == drilled.id, ControlResponse.control_id == control
                    )
                ).one()
                assert row.statement == statement, (control, row.statement, statement)
                changes = session.exec(
                    select(func.count())
                    .select_from(ResponseChange)
                    .where(ResponseChange.engagement_id == drilled.id, ResponseChange.control_id == control)
                ).one()
                assert changes == row.version
            submissions = session.exec(
                select(Submission).where(Submission.engagement_id == ready_plan.id)
            ).all()
        assert len(submissions) == 1 and [s.id for s in submissions] == submission[:1]

        # Each recorded mail reached the SMTP server exactly once.
        rows = ledger(engine)
        wanted = Counter(row.id for row in rows if row.email_wanted)
        mailed = Counter(str(m.message["Message-ID"]).split("-", 1)[1].split("@")[0] for m in inbox.messages)
        assert [m for m, n in mailed.items() if n > 1] == [], "mail sent twice"
        assert mailed == wanted, "mail and ledger differ"
        assert any(row.key.startswith("event:") for row in rows)  # the submission's notification
        assert any(not row.key.startswith("event:") for row in rows)  # the reminder run's

        audit, evidence = drill.attest("audit", "verify", "--json"), drill.attest("verify-evidence")
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert evidence.returncode == 0, evidence.stdout + evidence.stderr
        checked = json.loads(audit.stdout)["checked"]
    finally:
        client.close()
        for node, _ in drill.webs:
            node.kill()
        drill.worker.kill()
        shutil.rmtree(files_dir, ignore_errors=True)
        shutil.rmtree(settings.evidence_dir, ignore_errors=True)

    kills = drill.kills
    summary = (
        f"{backend}: seed {SEED}, {UPLOADS} uploads ({sum(sizes) // MB} MB, {min(sizes) // MB}-"
        f"{max(sizes) // MB} MB each), {EDITS} answer edits, 1 submission, 1 reminder run; kill -9 of "
        f"the web process {kills['web']}x, the worker {kills['worker']}x, the reminder run "
        f"{kills['remind']}x; {sum(drill.retries.values())} retries; in {seconds:.0f} s: 0 lost, "
        f"0 twice, {sum(wanted.values())} mails once each, {checked} audit records verified"
    )
    print(summary)
    print("seconds by kind:", {k: round(v, 1) for k, v in drill.seconds.items()})
    report = os.environ.get("HARDENING_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"tried": summary}) + "\n")


def upload(drill: Drill, client: httpx.Client, eid: str, number: int, file: File) -> str | None:
    """One attempt; the evidence id once the server acknowledged it (201, or 409 naming the item
    an earlier attempt stored before its answer was lost)."""
    title = f"Drill upload {number}"
    length = body_length(file, title)
    roll, at = drill.rng.random(), drill.rng.randrange(length)
    kill_at = None if not drill.first_attempt else at if roll < 0.45 else length if roll < 0.6 else None
    also_worker = drill.strikes(0.3)

    def kill() -> None:
        if also_worker:
            drill.kill(drill.worker)
        drill.kill(drill.web)

    try:
        answer = client.post(
            drill.url(f"/api/engagements/{eid}/evidence"),
            content=streamed(file, title, kill_at, kill),
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(length),
            },
        )
    except httpx.TransportError:
        return None
    if answer.status_code == 201:
        return str(answer.json()["id"])
    details = answer.json()["error"]["details"] if answer.status_code == 409 else None
    if isinstance(details, dict) and details.get("sha256") == file.sha256:
        return str(details["evidence_id"])
    raise AssertionError(f"upload {number}: {answer.status_code} {answer.text[:300]}")


def edit(drill: Drill, client: httpx.Client, eid: str, control: str, statement: str) -> bool:
    delay = drill.rng.uniform(0, 0.06)
    timer = drill.later(drill.web, delay) if drill.strikes(0.3) else None
    try:
        answer = client.put(
            drill.url(f"/api/engagements/{eid}/responses/{control}"),
            json={"status": "met", "statement": statement},
        )
    except httpx.TransportError:
        return False
    finally:
        if timer is not None:
            timer.join()
    assert answer.status_code == 200, answer.text[:300]
    return True


def submit(drill: Drill, client: httpx.Client, eid: str) -> str | None:
    """The submission; its id once acknowledged (201, or 409 once an unanswered attempt stored it)."""
    timers = []
    web_delay, worker_delay = drill.rng.uniform(0, 0.3), drill.rng.uniform(0.05, 1.5)
    if drill.strikes(0.6):
        timers.append(drill.later(drill.web, web_delay))
    if drill.strikes(0.8):
        timers.append(drill.later(drill.worker, worker_delay))  # while it mails the notifications
    try:
        answer = client.post(drill.url(f"/api/engagements/{eid}/submissions"), json=DECLARATION)
    except httpx.TransportError:
        return None
    finally:
        for timer in timers:
            timer.join()
    if answer.status_code == 201:
        return str(answer.json()["id"])
    assert answer.status_code == 409, answer.text[:300]
    with session_scope(drill.engine) as session:
        made = session.exec(select(Submission).where(Submission.engagement_id == eid)).all()
    assert len(made) == 1, answer.text[:300]
    return made[0].id


def remind(drill: Drill, as_of: str, *, kill: bool = True) -> dict[str, Any] | None:
    """`attest remind --as-of`: killed at a drawn moment (or not); the run's report once it ran."""
    process = subprocess.Popen(
        [ATTEST, "remind", "--as-of", as_of, "--json"],
        cwd=drill.root,
        env=drill.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    delay = drill.rng.uniform(0.2, 3.0) if kill and drill.first_attempt else None
    if delay is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            drill.kills["remind"] += 1
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        assert process.returncode == -signal.SIGKILL, out + err
        return None  # the next attempt finds its lease, and lets time pass
    result: dict[str, Any] = json.loads(out)
    if not result.get("ran"):  # a dead sender's lease, or the worker's sweep running now
        let_time_pass(drill.engine)
        return None
    return result


# --- a full disk ---------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, megabytes: int) -> Iterator[str]:
    """A real filesystem of `megabytes` at `folder` (tmpfs), or, where mounting is not permitted,
    RLIMIT_FSIZE on this process (writes past the limit fail with EFBIG). Yields which."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode == 0:
        try:
            yield f"a {megabytes} MB tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (megabytes * MB, hard))
    try:
        yield f"RLIMIT_FSIZE {megabytes} MB (mount refused: {mounted.stderr.decode().strip()[:80]})"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def spool_files(evidence_dir: Path) -> list[str]:
    return sorted(p.name for p in (evidence_dir / "tmp").iterdir()) + sorted(
        str(p) for p in (evidence_dir / "objects").rglob("*") if p.is_file()
    )


def test_a_full_disk_refuses_the_upload_with_507_leaves_nothing_and_the_next_upload_works(
    tmp_path: Path, database_url: str, backend: str
) -> None:
    evidence_dir = tmp_path / "small-disk"
    with small_disk(evidence_dir, 4) as how:
        print(f"disk full by {how}")
        app = built_app(make_settings(tmp_path, database_url, evidence_dir=evidence_dir))
        try:
            engine, keys = app.state.engine, app.state.keys
            buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
            lead = make_person(engine, keys, "supplier_lead", supplier)
            engagement = make_engagement(engine, buyer, supplier)
            client = TestClient(app, raise_server_exceptions=False)
            client.headers.update(token_for(engine, lead.user.id))
            big = b"%PDF-1.7\n" + random.Random(SEED).randbytes(6 * MB)
            refused = client.post(
                f"/api/engagements/{engagement.id}/evidence",
                data={"title": "Too big for the disk"},
                files={"file": ("big.pdf", big, "application/pdf")},
            )
            assert refused.status_code == 507, refused.text
            error = refused.json()["error"]
            assert error["code"] == "storage_full" and "no space left" in error["message"]
            with session_scope(engine) as session:
                assert session.exec(select(func.count()).select_from(Evidence)).one() == 0
            assert spool_files(evidence_dir) == []  # no partial file

            small = b"%PDF-1.7\n" + random.Random(SEED + 1).randbytes(MB)
            stored = client.post(
                f"/api/engagements/{engagement.id}/evidence",
                data={"title": "Fits"},
                files={"file": ("small.pdf", small, "application/pdf")},
            )
            assert stored.status_code == 201, stored.text
            got = client.get(f"/api/evidence/{stored.json()['id']}/content")
            assert (
                got.status_code == 200
                and hashlib.sha256(got.content).digest() == hashlib.sha256(small).digest()
            )
        finally:
            app.state.engine.dispose()


def test_no_space_and_file_size_errors_are_507_and_other_os_errors_stay_500(
    app: FastAPI, settings: Settings
) -> None:
    """The handler's edges: ENOSPC, EDQUOT and EFBIG are "no space"; EACCES is unexpected."""
    from app.http.errors import NO_SPACE

    assert {errno.ENOSPC, errno.EDQUOT, errno.EFBIG} == NO_SPACE
    raised: list[OSError] = []

    @app.get("/crash-drill-os-error")
    def fail() -> None:
        raise raised[-1]

    try:
        client = TestClient(app, raise_server_exceptions=False)
        for number, status in ((errno.ENOSPC, 507), (errno.EFBIG, 507), (errno.EACCES, 500)):
            raised.append(OSError(number, os.strerror(number)))
            assert client.get("/crash-drill-os-error").status_code == status
    finally:
        app.router.routes.pop()  # built_app never reuses an app whose routes changed; put it back


# --- a dropped database connection ---------------------------------------------------------------


def answer_state(engine: Engine, eid: str, control: str) -> tuple[str, int, int]:
    with session_scope(engine) as session:
        row = session.exec(
            select(ControlResponse).where(
                ControlResponse.engagement_id == eid, ControlResponse.control_id == control
            )
        ).one()
        changes = session.exec(
            select(func.count())
            .select_from(ResponseChange)
            .where(ResponseChange.engagement_id == eid, ResponseChange.control_id == control)
        ).one()
        audited = session.exec(select(func.count()).select_from(AuditEvent)).one()
    return row.statement, changes, audited


def test_a_dropped_database_connection_answers_503_writes_nothing_and_the_next_request_works(
    tmp_path: Path, database_url: str, backend: str
) -> None:
    if backend == "postgres":
        _dropped(tmp_path, database_url, "unavailable", _terminated_mid_transaction)
        return
    folder = tmp_path / "db-disk"  # the database's own disk, filled up under it
    with small_disk(folder, 16) as how:
        if how.startswith("a "):
            print(f"SQLite's disk full by {how}")
            (folder / "attest.db").write_bytes(Path(database_url.removeprefix("sqlite:///")).read_bytes())
            _dropped(tmp_path, f"sqlite:///{folder / 'attest.db'}", "unavailable", _disk_full_under(folder))
            return
    # No mount here: the other SQLite fault, the write lock held past the busy timeout.
    print("SQLite's write lock held past the busy timeout (no mount permitted)")
    _dropped(tmp_path, database_url, "busy", _locked_past_the_timeout(database_url))


Fault = Callable[[TestClient, str, str], httpx.Response]


def _disk_full_under(folder: Path) -> Fault:
    def fault(client: TestClient, path: str, url: str) -> httpx.Response:
        filler = fill(folder)
        try:
            return client.put(path, json={"status": "met", "statement": "Lost."})
        finally:
            filler.unlink()

    return fault


def _locked_past_the_timeout(database_url: str) -> Fault:
    def fault(client: TestClient, path: str, url: str) -> httpx.Response:
        import sqlite3

        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            return client.put(path, json={"status": "met", "statement": "Lost."})
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    return fault


def _dropped(tmp_path: Path, url: str, code: str, fault: Fault) -> None:
    app = built_app(make_settings(tmp_path, url, database_busy_seconds=1.0))
    engine, keys = app.state.engine, app.state.keys
    try:
        buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
        lead = make_person(engine, keys, "supplier_lead", supplier)
        eid = make_engagement(engine, buyer, supplier).id
        client = TestClient(app, raise_server_exceptions=False)
        client.headers.update(token_for(engine, lead.user.id))
        path = f"/api/engagements/{eid}/responses/CPS-1.1"
        assert client.put(path, json={"status": "met", "statement": "Before."}).status_code == 200
        before = answer_state(engine, eid, "CPS-1.1")

        answer = fault(client, path, url)
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == code and "nothing was saved" in error["message"].lower(), error
        assert "Traceback" not in answer.text and answer.headers["Retry-After"]
        assert answer_state(engine, eid, "CPS-1.1") == before  # nothing half-written

        again = client.put(path, json={"status": "met", "statement": "After."})
        assert again.status_code == 200, again.text
        statement, changes, _ = answer_state(engine, eid, "CPS-1.1")
        assert (statement, changes) == ("After.", before[1] + 1)
        assert client.get("/api/me").status_code == 200
    finally:
        engine.dispose()


def fill(folder: Path) -> Path:
    """Write a file until the filesystem at `folder` has no byte left."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 65536)
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as handle:
        while True:  # the last few bytes, one at a time
            handle.write(b"\0")
    return filler


def _terminated_mid_transaction(client: TestClient, path: str, url: str) -> httpx.Response:
    """The save waits on a row lock this test holds (every audit chain's head), inside its
    transaction; its backend is terminated there, then the lock is let go."""
    locker = make_engine(url)
    got: list[httpx.Response] = []
    try:
        with locker.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("SELECT * FROM audit_head FOR UPDATE"))
            mine = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            thread = threading.Thread(
                target=lambda: got.append(client.put(path, json={"status": "met", "statement": "Lost."}))
            )
            thread.start()
            deadline, victim = time.monotonic() + 20, None
            while victim is None and time.monotonic() < deadline:
                victim = connection.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND pid <> :mine"
                    ),
                    {"mine": mine},
                ).scalar()
                time.sleep(0.02)
            assert victim is not None, "the save never waited on the lock"
            assert connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": victim}).scalar_one()
            thread.join(timeout=30)
            transaction.rollback()
    finally:
        locker.dispose()
    assert got, "the request did not finish"
    return got[0]


def test_letting_time_pass_moves_a_dead_senders_claim_back_and_keeps_it_a_time(app: FastAPI) -> None:
    """The drill's own clock: on SQLite, `claimed_at - interval` in SQL turned the stored text
    into a number (one CI run failed reading it back). The claim moves back by the lease."""
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead")
    claimed = utcnow() - timedelta(seconds=SENDING_SECONDS + 5)
    with session_scope(engine, write=True) as session:
        session.add(
            ReminderSent(
                key="drill:1", recipient_id=lead.user.id, category="certificate_expiry",
                subject="s", link="/", due_on=claimed.date(), send_on=claimed.date(), claimed_at=claimed,
            )
        )  # fmt: skip
        session.commit()
    let_time_pass(engine)
    (row,) = ledger(engine)
    moved = claimed - (max(LEASE, CLAIM_TIMEOUT) + timedelta(minutes=1))
    assert row.claimed_at is not None  # SQLite reads times back without their zone (UTC)
    assert row.claimed_at.replace(tzinfo=None) == moved.replace(tzinfo=None)
