"""The values /metrics reads from the database at scrape time (app.adapters.metrics exports them).

Each reading is a function returning a number, or None when there is nothing true to report;
a None is left out of the scrape, never exported as a made-up 0. `job_queue_depth` and
`job_queue_oldest_age_seconds` read the job queue's storage (app.adapters.jobs). A hook
returns None until what it measures exists:

- `audit_chain_head_age_seconds`: for the per-tenant audit chains (issue 14 item 4) to fill in
  with the age of the newest chain head.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from huey import Huey  # type: ignore[import-untyped]
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app.adapters import jobs
from app.adapters.metrics import AUDIT_CHAIN_HEAD_AGE, JOB_QUEUE_DEPTH, JOB_QUEUE_OLDEST_AGE, REMINDER_LAG
from app.config import ConfigError, Settings, get_settings
from app.db import session_scope
from app.models import ReminderRun, utcnow
from app.services import audit

log = logging.getLogger("attest.metrics")


def reminder_lag_seconds(session: Session, *, now: datetime) -> float | None:
    """Seconds since the last reminder run finished (the run gives its sender lease back and
    stamps `reminder_run.finished_at`, app.services.reminders); None before the first run."""
    run = session.get(ReminderRun, 1)
    if run is None or run.finished_at is None:
        return None
    finished = run.finished_at
    if finished.tzinfo is None:  # SQLite gives stored UTC instants back without their zone
        finished = finished.replace(tzinfo=UTC)
    return max(0.0, (now - finished).total_seconds())


def job_queue_depth(session: Session, *, queue: Huey | None = None) -> float | None:
    """Jobs waiting to run in the job queue (app.adapters.jobs); None when it cannot be read."""
    queue = queue if queue is not None else _configured_queue()
    if queue is None:
        return None
    try:
        return float(jobs.depth(queue))
    except Exception as error:  # the queue's storage is down: leave the reading out
        log.warning("metrics: the job queue cannot be read: %s", error)
        return None


def job_queue_oldest_age_seconds(
    session: Session, *, now: datetime, queue: Huey | None = None
) -> float | None:
    """How long the oldest waiting job has waited, from the enqueue time app.jobs stamps on
    each job (Huey's storage keeps none of its own); None when nothing waits, the waiting jobs
    carry no stamp (periodic ones) or the queue cannot be read."""
    queue = queue if queue is not None else _configured_queue()
    if queue is None:
        return None
    try:
        return jobs.oldest_age_seconds(queue, now=now)
    except Exception as error:  # the queue's storage is down: leave the reading out
        log.warning("metrics: the job queue cannot be read: %s", error)
        return None


_QUEUES: dict[tuple[str, str], Huey] = {}


def _configured_queue(settings: Settings | None = None) -> Huey | None:
    """The queue of these settings (or of the process's), made once per process."""
    try:
        settings = settings or get_settings()
    except ConfigError:
        return None
    key = (settings.queue_url, str(settings.data_dir))
    if key not in _QUEUES:
        _QUEUES[key] = jobs.make_huey(settings)
    return _QUEUES[key]


def audit_chain_head_age_seconds(session: Session, *, now: datetime) -> float | None:
    """Seconds since the newest record of any audit chain was written; None while the log is
    empty (then the gauge is left out of the scrape)."""
    at = audit.newest_record_at(session)
    return None if at is None else max(0.0, (now - at).total_seconds())


def readings(
    engine: Engine, *, now: datetime | None = None, settings: Settings | None = None
) -> dict[str, float | None]:
    """Every scrape-time value by metric name; all None (and a warning logged) when the
    database cannot be read, so the process's own counters are still served. The job queue is
    the one of `settings` (default: the process's settings)."""
    now = now or utcnow()
    queue = _configured_queue(settings)
    try:
        with session_scope(engine, read_only=True) as session:
            return {
                REMINDER_LAG: reminder_lag_seconds(session, now=now),
                JOB_QUEUE_DEPTH: job_queue_depth(session, queue=queue),
                JOB_QUEUE_OLDEST_AGE: job_queue_oldest_age_seconds(session, now=now, queue=queue),
                AUDIT_CHAIN_HEAD_AGE: audit_chain_head_age_seconds(session, now=now),
            }
    except SQLAlchemyError as error:
        log.warning("metrics: the database could not be read: %s", str(error).splitlines()[0])
        return dict.fromkeys((REMINDER_LAG, JOB_QUEUE_DEPTH, JOB_QUEUE_OLDEST_AGE, AUDIT_CHAIN_HEAD_AGE))
