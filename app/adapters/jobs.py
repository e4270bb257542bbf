"""The job queue's storage: a Huey instance made from the settings.

Empty `ATTEST_QUEUE_URL` (the default): `SqliteHuey` on a file beside the database
(`<data_dir>/jobs.db`), so `make run` needs no extra server. `redis://...`: Huey on Redis
(`ReliableRedisHuey`, below), so workers on several machines share one queue. The tasks
(app.jobs) are defined once against whichever instance this returns; nothing else differs.

On Redis a job is never lost with the worker that held it. Huey's own Redis storage pops a
job off the queue, so a worker killed mid-job (SIGKILL, OOM, a lost machine) takes it along:
a reminder unit that never finishes holds its whole sweep's mail back for hours. Here
(`ReliableRedisStorage`) a worker moves each job, atomically, into an in-flight list of its
own and removes it only once the job has finished; every worker keeps a heartbeat key alive,
and puts the in-flight jobs of a worker whose heartbeat has lapsed back on the queue
(`ReliableRedisHuey.heartbeat`, called by app.cli.worker). A recovered job runs again from
the start, which the jobs are written for (app.jobs: each unit is idempotent, each mail is
claimed before it is sent).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey  # type: ignore[import-untyped]
from huey.signals import SIGNAL_INTERRUPTED  # type: ignore[import-untyped]
from huey.storage import RedisStorage  # type: ignore[import-untyped]

from app.config import Settings

log = logging.getLogger("attest.jobs")
QUEUE_NAME = "attest"
JOBS_FILE = "jobs.db"
HEARTBEAT_SECONDS = 2.0  # how often a worker says it is alive and looks for dead workers' jobs
ALIVE_SECONDS = 10  # a worker silent this long is dead: its in-flight jobs go back on the queue


# Due scheduled jobs (retries, the sweep's finishing job polling) straight onto the queue in
# one atomic step, so a worker killed between reading the schedule and enqueueing loses none.
SCHEDULE_TO_QUEUE_LUA = """\
local due = redis.call('zrangebyscore', KEYS[1], '-inf', tonumber(ARGV[1]))
for _, job in ipairs(due) do
    redis.call('zrem', KEYS[1], job)
    redis.call('lpush', KEYS[2], job)
end
return #due"""


class ReliableRedisStorage(RedisStorage):  # type: ignore[misc]
    """Huey's Redis storage, with each dequeued job kept in this worker's in-flight list
    (`BLMOVE`, one atomic step) until `ack`, and due scheduled jobs moved onto the queue inside
    Redis; see the module docstring. Threads of one worker share the list; each remembers the
    job it holds."""

    def __init__(self, name: str = "huey", **options: Any) -> None:
        super().__init__(name, **options)
        self.worker_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.inflight_prefix = f"huey.inflight.{self.name}."
        self.alive_prefix = f"huey.alive.{self.name}."
        self.inflight_key = self.inflight_prefix + self.worker_id
        self.alive_key = self.alive_prefix + self.worker_id
        self._held = threading.local()
        self._schedule_to_queue = self.conn.register_script(SCHEDULE_TO_QUEUE_LUA)

    def read_schedule(self, ts: datetime) -> list[bytes]:
        """Move the jobs due by `ts` onto the queue; nothing is left for the scheduler to
        enqueue (Huey's own pops them here and pushes them from the worker's memory)."""
        self._schedule_to_queue(keys=[self.schedule_key, self.queue_key], args=[self.convert_ts(ts)])
        return []

    def dequeue(self) -> bytes | None:
        if self.blocking:
            data = self.conn.blmove(self.queue_key, self.inflight_key, self.read_timeout, "RIGHT", "LEFT")
        else:
            data = self.conn.lmove(self.queue_key, self.inflight_key, "RIGHT", "LEFT")
        self._held.data = data
        self._held.interrupted = False
        return data  # type: ignore[no-any-return]

    def mark_interrupted(self) -> None:
        """The job in this thread's hands was cut off (SIGINT): `ack` puts it back instead."""
        self._held.interrupted = True

    def ack(self) -> None:
        """The job this thread dequeued is done with: drop it from the in-flight list (or, if it
        was interrupted, put it back at the head of the queue, in the same transaction)."""
        data = getattr(self._held, "data", None)
        if data is None:
            return
        self._held.data = None
        pipe = self.conn.pipeline(transaction=True)
        pipe.lrem(self.inflight_key, 1, data)
        if getattr(self._held, "interrupted", False):
            pipe.rpush(self.queue_key, data)
        pipe.execute()

    def beat(self) -> None:
        """Say this worker is alive for the next ALIVE_SECONDS."""
        self.conn.set(self.alive_key, "1", ex=ALIVE_SECONDS)

    def recover(self) -> int:
        """Put the in-flight jobs of every worker whose heartbeat has lapsed back on the queue
        (at its head: they were taken first); how many. Moving one job is one atomic step, so
        two workers recovering at once move each job once."""
        moved = 0
        for raw in self.conn.scan_iter(match=self.inflight_prefix + "*", count=100):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            owner = key.removeprefix(self.inflight_prefix)
            if owner == self.worker_id or self.conn.exists(self.alive_prefix + owner):
                continue
            while self.conn.lmove(key, self.queue_key, "RIGHT", "RIGHT") is not None:
                moved += 1
        return moved

    def stop(self) -> int:
        """This worker is stopping: whatever is still in its in-flight list (jobs cut off by
        SIGINT) goes back on the queue, and its heartbeat ends; how many jobs went back."""
        moved = 0
        while self.conn.lmove(self.inflight_key, self.queue_key, "RIGHT", "RIGHT") is not None:
            moved += 1
        self.conn.delete(self.alive_key)
        return moved

    def inflight_count(self) -> int:
        """Jobs every worker holds right now (in-flight lists, dead workers' included)."""
        return sum(
            int(self.conn.llen(key))
            for key in self.conn.scan_iter(match=self.inflight_prefix + "*", count=100)
        )

    def flush_queue(self) -> None:
        super().flush_queue()
        for key in self.conn.scan_iter(match=self.inflight_prefix + "*", count=100):
            self.conn.delete(key)


class ReliableRedisHuey(RedisHuey):  # type: ignore[misc]
    """RedisHuey on `ReliableRedisStorage`: a job leaves its worker's in-flight list only once
    Huey has finished with it (its result, retry or error stored)."""

    storage_class = ReliableRedisStorage

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.signal(SIGNAL_INTERRUPTED)(self._interrupted)

    def _interrupted(self, signal: str, task: Any, *args: Any) -> None:
        self.storage.mark_interrupted()

    def dequeue(self) -> Any:
        try:
            return super().dequeue()
        except Exception:
            self.storage.ack()  # a job that cannot even be read would fail on every worker
            raise

    def execute(self, task: Any, timestamp: datetime | None = None) -> Any:
        try:
            return super().execute(task, timestamp)
        finally:
            self.storage.ack()

    def heartbeat(self) -> int:
        """Beat, then recover dead workers' jobs; how many were put back."""
        self.storage.beat()
        return int(self.storage.recover())


def make_huey(settings: Settings, *, name: str = QUEUE_NAME) -> Huey:
    """The queue for these settings. Results are kept (a sweep reads its units' results), but
    not the errors of attempts that will be retried: a job's result is its final outcome."""
    options: dict[str, Any] = {"utc": True, "store_intermediate_errors": False}
    if settings.queue_url:
        return ReliableRedisHuey(name, url=settings.queue_url, **options)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(settings.data_dir / JOBS_FILE), **options)


def describe(settings: Settings) -> str:
    """Where the queue lives, for log lines (never a password)."""
    if settings.queue_url:
        head, _, tail = settings.queue_url.rpartition("@")
        return f"redis {tail}" if head else f"redis {settings.queue_url.split('://', 1)[-1]}"
    return f"sqlite {(settings.data_dir / JOBS_FILE).as_posix()}"


def check(huey: Huey) -> str:
    """ "" when the queue's storage answers; otherwise one line saying what is wrong."""
    try:
        huey.pending_count()
    except Exception as error:  # any storage failure: the worker cannot run jobs
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return f"the job queue cannot be read: {first}"
    return ""


def depth(huey: Huey) -> int:
    """Jobs waiting to run (not counting those scheduled for later)."""
    return int(huey.pending_count())


def oldest_age_seconds(huey: Huey, *, now: datetime | None = None) -> float | None:
    """Seconds the oldest waiting job has waited, from the enqueue time each job carries
    (app.jobs stamps it); None when nothing waits or no job says when it was queued."""
    stamps: list[float] = []
    for task in huey.pending():
        queued = (task.kwargs or {}).get("queued_at")
        if isinstance(queued, int | float):
            stamps.append(float(queued))
    if not stamps:
        return None
    current = (now or datetime.now(UTC)).timestamp()
    return max(0.0, current - min(stamps))
