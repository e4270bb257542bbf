"""`attest worker`: run the background jobs (app.jobs) from the configured queue.

Stops cleanly on SIGTERM (the jobs in hand finish first) or SIGINT (at once); with
`--check` it only says whether the queue's storage answers (the compose health check).

On Redis the worker also keeps a heartbeat and, every HEARTBEAT_SECONDS, puts the jobs held
by workers that died without stopping (SIGKILL, a lost machine) back on the queue
(app.adapters.jobs.ReliableRedisStorage); at a clean stop it hands back any job it was cut off
in. At start it clears the queue's task locks, which a killed worker would otherwise leave
held for good (the periodic sweep's lock): the sweep has its own guards against running twice
(app.jobs: the slot key and the reminder sender lease).
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer
from huey import Huey  # type: ignore[import-untyped]

from app.adapters.jobs import HEARTBEAT_SECONDS, ReliableRedisHuey, check, describe, make_huey
from app.adapters.logs import configure_logging
from app.cli.common import fail, settings_or_fail
from app.db import make_engine
from app.jobs import Jobs
from app.services.health import check_database

log = logging.getLogger("attest.worker")
SHUTDOWN_SECONDS = 8.0  # under the 10 s docker and systemd wait before SIGKILL


def worker(
    check_only: Annotated[
        bool, typer.Option("--check", help="Exit 0 when the job queue's storage answers, 1 otherwise.")
    ] = False,
) -> None:
    """Run the background jobs (reminder sweeps and their mail) until SIGTERM or Ctrl-C."""
    settings = settings_or_fail()
    huey = make_huey(settings)
    problem = check(huey)
    if check_only:
        if problem:
            typer.echo(f"attest: {problem}", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"job queue ok ({describe(settings)})")
        return
    if problem:
        fail(problem)
    engine = make_engine(settings.effective_database_url)
    db_problem = check_database(engine)
    if db_problem:
        fail(db_problem)
    configure_logging(settings)
    logging.getLogger("huey").setLevel(logging.INFO if settings.log_level == "debug" else logging.WARNING)
    Jobs(huey, settings, engine=engine)
    # SIGTERM (docker stop, systemd, `make run` on Ctrl-C) lets the jobs in hand finish for up
    # to SHUTDOWN_SECONDS; SIGINT (Ctrl-C in a terminal) stops at once. Either way a job cut off
    # mid-send is safe: its claim expires and a later sweep sends it (app.services.reminders).
    consumer = huey.create_consumer(
        workers=settings.worker_threads,
        worker_type="thread",
        periodic=True,
        graceful_signal="TERM",
        shutdown_timeout=SHUTDOWN_SECONDS,
        flush_locks=True,
    )
    stopping = threading.Event()
    beating = start_heartbeat(huey, stopping)
    log.info("worker started: %d threads on %s", settings.worker_threads, describe(settings))
    try:
        consumer.run()  # returns after SIGTERM or SIGINT, once the running jobs are done
    finally:
        stopping.set()
        if beating is not None:
            beating.join(timeout=HEARTBEAT_SECONDS + 5)
            handed_back = huey.storage.stop()
            if handed_back:
                log.warning("worker stopped mid-job: %d jobs put back on the queue", handed_back)
        engine.dispose()
    log.info("worker stopped")


def start_heartbeat(huey: Huey, stopping: threading.Event) -> threading.Thread | None:
    """On Redis: beat once now (before the first job is taken), then every HEARTBEAT_SECONDS
    beat and put dead workers' jobs back on the queue, until `stopping` is set."""
    if not isinstance(huey, ReliableRedisHuey):
        return None  # the SQLite queue belongs to one machine's workers: nothing to recover
    huey.heartbeat()

    def loop() -> None:
        while not stopping.wait(HEARTBEAT_SECONDS):
            try:
                moved = huey.heartbeat()
            except Exception as error:  # Redis away for a moment: the next beat tries again
                log.warning("job queue heartbeat failed: %s", error)
                continue
            if moved:
                log.warning("put %d jobs of a worker that died back on the queue", moved)

    thread = threading.Thread(target=loop, name="attest-heartbeat", daemon=True)
    thread.start()
    return thread
