"""The background jobs: each task calls one service function (no business logic here).

`Jobs(huey, settings)` defines the tasks once against the given Huey instance (made from the
settings by app.adapters.jobs.make_huey: SQLite file or Redis, one code path):

- `attest.reminders.periodic` (every SWEEP_MINUTES): runs the sweep once per time slot however
  many workers run, guarded twice: a storage-level lock (`lock_task`) keeps two sweeps from
  overlapping, and the first worker to store the slot's key (`put_if_empty`) is the only one
  that sweeps that slot; the reminder sender lease (app.services.reminders) also keeps it
  apart from an `attest remind` run from cron.
- `attest.reminders.sweep`: plans the sweep (the window since the last run), enqueues ONE job
  per engagement and one per supplier holding certificates, then a finishing job.
- `attest.reminders.engagement` / `attest.reminders.certificates`: record one unit's due
  reminders in its own short write transaction (idempotent, so a retry records nothing twice).
- `attest.reminders.finish`: waits for every unit's result; when all succeeded, moves the
  last-run day forward; then enqueues one mail job per pending row. A unit that failed for
  good leaves the day where it was, so the next sweep evaluates the window again.
- `attest.reminders.mail`: claim-before-send of one recorded reminder
  (reminders.deliver_one); a failed send raises, so Huey retries it; a claimed or sent row is
  never sent again, so a job that dies mid-way never mails twice. Event notifications
  (app.services.events) are mailed by the same job: `deliver_events` makes the web process
  queue one per recorded row once its request commits (the sweep's finish sends any left).
- `attest.statements.render`: renders a decided submission's ISAS or rejection notice to PDF
  into the evidence store (app.services.statement_files); queued when the decision commits.
- `attest.evidence.shard` / `attest.evidence.gather`: `verify-evidence` split by object-key
  prefix (app.services.evidence_integrity.check_shard), one job per prefix so several workers
  re-hash one store in parallel; a Huey chord runs the gathering job once every shard is done.
- `attest.downloads.make`: makes one big export a person asked for in the background into the
  evidence store (app.services.downloads.make); `attest.downloads.sweep` (hourly) removes the
  prepared files whose days are up.
- `attest.evidence.scan` / `attest.evidence.scan-sweep` (every SCAN_SWEEP_MINUTES): the malware
  scan of one stored object with clamd (app.services.scanning), queued when its upload commits;
  the sweep queues every object still unchecked. Both do nothing while ATTEST_CLAMAV_SOCKET is empty.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from huey import Huey, crontab, group  # type: ignore[import-untyped]
from huey.exceptions import TaskException  # type: ignore[import-untyped]
from sqlalchemy.engine import Engine

from app import clock
from app.adapters.catalogue_files import cached_library
from app.adapters.crypto import Keys
from app.adapters.jobs import make_huey
from app.adapters.mail import Mailer, make_mailer
from app.adapters.storage import EvidenceStore, make_store
from app.config import Settings
from app.db import make_engine, session_scope
from app.domain.catalogue import Library
from app.services import (
    catalogue_imports,
    downloads,
    events,
    evidence_integrity,
    reminders,
    scanning,
    statement_files,
)

log = logging.getLogger("attest.jobs")
SWEEP_MINUTES = 15
SWEEP_LOCK = "attest-reminder-sweep"
FINISH_POLL_SECONDS = 1.0
DOWNLOAD_SWEEP_MINUTE = 7  # each hour at :07, away from the quarter-hour reminder sweep
SCAN_SWEEP_MINUTES = 5  # how often the worker queues evidence that is still unchecked
FINISH_GIVE_UP_SECONDS = 6 * 3600.0  # a sweep whose units never all finish is evaluated again later


def slot_key(slot: int) -> str:
    return f"attest:reminder-sweep-slot:{slot}"


class Jobs:
    """The tasks, bound to one Huey instance, one engine and one mailer (made from the settings
    unless given)."""

    def __init__(
        self,
        huey: Huey,
        settings: Settings,
        *,
        engine: Engine | None = None,
        mailer: Mailer | None = None,
        store: EvidenceStore | None = None,
        retry_delay: float = 60.0,
        unit_retries: int = 3,
    ) -> None:
        self.huey = huey
        self.settings = settings
        self._engine = engine
        self._mailer = mailer
        self._store = store
        delay = max(1, math.ceil(retry_delay)) if retry_delay >= 1 else retry_delay
        self.periodic_sweep = huey.periodic_task(
            crontab(minute=f"*/{SWEEP_MINUTES}"), name="attest.reminders.periodic"
        )(huey.lock_task(SWEEP_LOCK)(self._periodic))
        self.sweep = huey.task(name="attest.reminders.sweep")(self._sweep)
        self.record_engagement = huey.task(
            name="attest.reminders.engagement", retries=unit_retries, retry_delay=delay
        )(self._record_engagement)
        self.record_certificates = huey.task(
            name="attest.reminders.certificates", retries=unit_retries, retry_delay=delay
        )(self._record_certificates)
        self.finish = huey.task(name="attest.reminders.finish")(self._finish)
        self.mail = huey.task(
            name="attest.reminders.mail", retries=reminders.MAX_ATTEMPTS - 1, retry_delay=delay
        )(self._mail)
        self.render_statement = huey.task(
            name="attest.statements.render", retries=unit_retries, retry_delay=delay
        )(self._render_statement)
        self.verify_shard = huey.task(name="attest.evidence.shard", retries=unit_retries, retry_delay=delay)(
            self._verify_shard
        )
        self.verify_gather = huey.task(name="attest.evidence.gather")(self._verify_gather)
        # Malware scanning (app.services.scanning): one job per stored object, and a sweep that
        # queues whatever is still unchecked (a no-op while ATTEST_CLAMAV_SOCKET is empty).
        self.scan = huey.task(name="attest.evidence.scan", retries=unit_retries, retry_delay=delay)(
            self._scan
        )
        self.scan_sweep = huey.periodic_task(
            crontab(minute=f"*/{SCAN_SWEEP_MINUTES}"), name="attest.evidence.scan-sweep"
        )(self._scan_sweep)
        # Big exports for one person's Downloads list (app.services.downloads): no automatic
        # retry (the person sees "failed" with its message and asks again), and an hourly sweep
        # that removes the files whose days are up.
        self.make_download = huey.task(name="attest.downloads.make")(self._make_download)
        self.download_sweep = huey.periodic_task(
            crontab(minute=str(DOWNLOAD_SWEEP_MINUTE)), name="attest.downloads.sweep"
        )(self._download_sweep)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.effective_database_url)
        return self._engine

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = make_mailer(self.settings)
        return self._mailer

    @property
    def store(self) -> EvidenceStore:
        if self._store is None:
            self._store = make_store(self.settings)
        return self._store

    # --- prepared downloads (app.services.downloads) ----------------------------------------

    @property
    def library(self) -> Library:
        files = cached_library(str(Path(self.settings.controls_dir).resolve()))
        with session_scope(self.engine, read_only=True) as session:  # plus imported catalogues
            return catalogue_imports.library(session, files)

    def _make_download(self, download_id: str, queued_at: float | None = None) -> str:
        return downloads.make(
            self.engine,
            self.store,
            self.library,
            Keys.from_settings(self.settings).audit,
            download_id,
            base_url=self.settings.base_url,
        )

    def _download_sweep(self) -> int:
        return downloads.sweep(self.engine, self.store)

    # --- the task bodies ------------------------------------------------------------------

    def _periodic(self) -> str:
        slot = int(time.time() // (SWEEP_MINUTES * 60))
        if not self.huey.put_if_empty(slot_key(slot), "1"):
            return "swept already"  # another worker's scheduler enqueued this slot too
        self.huey.delete(slot_key(slot - 1))
        return self._sweep(None)

    def _sweep(self, as_of: str | None = None, queued_at: float | None = None) -> str:
        day = date.fromisoformat(as_of) if as_of else clock.today()
        owner = reminders.new_owner()
        if not reminders.acquire_lease(self.engine, owner):
            log.info("reminder sweep %s: another sender holds the lease; skipped", day)
            return "busy"
        try:
            sweep = reminders.plan(self.engine, as_of=day)
            if sweep is None:
                self._enqueue_mail()
                return "evaluated already"
            last = sweep.last.isoformat() if sweep.last else None
            ids = [
                self.record_certificates(s, last, day.isoformat(), queued_at=time.time()).id
                for s in sweep.supplier_ids
            ]
            ids += [
                self.record_engagement(e, last, day.isoformat(), queued_at=time.time()).id
                for e in sweep.engagement_ids
            ]
            self.finish(day.isoformat(), ids, time.time(), queued_at=time.time())
            log.info(
                "reminder sweep %s to %s: %d engagement and %d certificate jobs queued",
                sweep.window[0],
                sweep.window[1],
                len(sweep.engagement_ids),
                len(sweep.supplier_ids),
            )
            return "planned"
        finally:
            reminders.release_lease(self.engine, owner)

    def _record_engagement(
        self, engagement_id: str, last: str | None, as_of: str, queued_at: float | None = None
    ) -> dict[str, Any]:
        skipped: list[str] = []
        count = reminders.record_engagement(
            self.engine, engagement_id, last=_day(last), as_of=date.fromisoformat(as_of), skipped=skipped
        )
        return {"recorded": count, "skipped": skipped}

    def _record_certificates(
        self, supplier_id: str, last: str | None, as_of: str, queued_at: float | None = None
    ) -> dict[str, Any]:
        count = reminders.record_certificates(
            self.engine, supplier_id, last=_day(last), as_of=date.fromisoformat(as_of)
        )
        return {"recorded": count, "skipped": []}

    def _finish(self, as_of: str, ids: list[str], started: float, queued_at: float | None = None) -> str:
        waiting, failed = [], []
        for task_id in ids:
            try:
                value = self.huey.result(task_id, preserve=True)
            except TaskException:
                failed.append(task_id)
                continue
            if value is None:
                waiting.append(task_id)
        if waiting and time.time() - started < FINISH_GIVE_UP_SECONDS:
            self.finish.schedule((as_of, ids, started), {"queued_at": time.time()}, delay=FINISH_POLL_SECONDS)
            return "waiting"
        for task_id in ids:
            self.huey.delete(task_id)  # the results are read; drop them
        if failed or waiting:
            log.error(
                "reminder sweep %s: %d unit jobs failed and %d never finished; the day is evaluated again",
                as_of,
                len(failed),
                len(waiting),
            )
        else:
            reminders.finish_sweep(self.engine, as_of=date.fromisoformat(as_of))
        self._enqueue_mail()
        return "finished" if not (failed or waiting) else "incomplete"

    def _enqueue_mail(self) -> None:
        self.enqueue_mail(reminders.pending_ids(self.engine))

    def enqueue_mail(self, row_ids: list[str]) -> None:
        """One `attest.reminders.mail` job per ledger row (reminders and event notifications
        alike); a row queued twice is still mailed once (claim-before-send)."""
        for row_id in row_ids:
            self.mail(row_id, queued_at=time.time())

    def _mail(self, row_id: str, queued_at: float | None = None) -> str:
        # MailNotSent propagates: Huey retries the job; the claim makes it send once.
        return reminders.deliver_one(self.engine, self.mailer, self.settings, row_id)

    # --- statements and evidence ----------------------------------------------------------

    def _render_statement(self, submission_id: str, queued_at: float | None = None) -> str:
        with session_scope(self.engine, read_only=True) as session:  # read, then render outside
            file = statement_files.file_for_submission(
                session, submission_id, base_url=self.settings.base_url
            )
        if file is None:
            return "not decided"
        _, rendered = statement_files.pdf_bytes(self.store, file)
        return "rendered" if rendered else "cached"

    def verify_evidence(self, *, shards: int, grace_seconds: float, now: float) -> Any:
        """Queue one shard job per key prefix and the job that gathers their reports; returns
        the gathering job's result handle (`.get(blocking=True, timeout=...)`)."""
        members = [
            self.verify_shard.s(prefix, grace_seconds, now, queued_at=time.time())
            for prefix in evidence_integrity.shard_prefixes(shards)
        ]
        index = [[m.id, m.args[0]] for m in members]
        return self.huey.enqueue(group(members).then(self.verify_gather, grace_seconds, index))

    def _verify_shard(
        self, prefix: str, grace_seconds: float, now: float, queued_at: float | None = None
    ) -> dict[str, Any]:
        with session_scope(self.engine, read_only=True) as session:
            report = evidence_integrity.check_shard(
                session, self.store, prefix=prefix, grace_seconds=grace_seconds, now=now
            )
        return report.as_dict()

    def _verify_gather(
        self, grace_seconds: float, index: list[list[str]], results: list[Any]
    ) -> dict[str, Any]:
        reports, failed = [], []
        for (task_id, prefix), value in zip(index, results, strict=True):
            self.huey.delete(task_id)  # the shard's own copy of its result: read here, via the chord
            if isinstance(value, dict):
                reports.append(evidence_integrity.Report.from_dict(value))
            else:  # huey's Error: the shard failed for good
                error = getattr(value, "metadata", {}).get("error", value)
                failed.append({"prefix": prefix, "error": str(error)})
        stale = len(self.store.stale_tmp(older_than_seconds=grace_seconds))
        merged = evidence_integrity.merge(reports, stale_temp_files=stale)
        return {**merged.as_dict(), "shards": len(index), "failed_shards": failed}

    def _scan(self, sha256: str, queued_at: float | None = None) -> str:
        scanner = scanning.make_scanner(self.settings)
        if scanner is None:
            return "scanning off"
        # ScanDeferred propagates (clamd down or too slow): Huey retries; the sweep catches the rest.
        key = Keys.from_settings(self.settings).audit  # malware found is audited
        return str(scanning.scan_object(self.engine, self.store, scanner, sha256, audit_key=key))

    def _scan_sweep(self) -> int:
        if not scanning.scanning_on(self.settings):
            return 0
        with session_scope(self.engine, read_only=True) as session:
            keys = scanning.unscanned(session)
        for key in keys:
            self.scan(key, queued_at=time.time())
        return len(keys)


def deliver_events(settings: Settings) -> None:
    """Queue the mail of each event notification once its request commits (app.services.events):
    the web process calls this once at start-up; the queue is opened on the first event."""
    made: list[Jobs] = []
    opening = threading.Lock()  # two requests committing at once open one queue

    def dispatch(row_ids: list[str]) -> None:
        with opening:
            if not made:
                made.append(Jobs(make_huey(settings), settings))
        made[0].enqueue_mail(row_ids)

    events.dispatch_with(dispatch)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
