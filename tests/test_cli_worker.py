"""`attest worker` as an operator runs it: a real process on SQLite with its SQLite queue file,
real SMTP; it runs a queued reminder sweep, mails the reminders, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import clock
from app.adapters.jobs import make_huey
from app.config import Settings
from app.jobs import Jobs
from tests.conftest import CONTROLS
from tests.smtp import Inbox, serve, smtp_env
from tests.test_cli import ATTEST, run


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from serve()


def test_worker_runs_a_queued_sweep_and_stops_on_sigterm(tmp_path: Path, smtp_server: Inbox) -> None:
    env = smtp_env(smtp_server)
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "demo", "--json").returncode == 0
    check = run(tmp_path, "worker", "--check")
    assert check.returncode == 0 and "job queue ok (sqlite var/jobs.db)" in check.stdout
    # Queue a sweep the way the web process or an operator would: same settings, same queue file.
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")  # type: ignore[call-arg]
    Jobs(make_huey(settings), settings).sweep(clock.today().isoformat())
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    base.update({"ATTEST_CONTROLS_DIR": str(CONTROLS), "ATTEST_LOG_FORMAT": "json", **env})
    worker = subprocess.Popen(
        [ATTEST, "worker"], cwd=tmp_path, env=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not smtp_server.to("advisor@cps.example"):
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    # The demo sub-contractor's CE Plus expired 10 days ago: the lead and the advisor hear of it once.
    for address in ("lead@northwind.example", "advisor@cps.example"):
        subjects = [m.subject for m in smtp_server.to(address)]
        assert any("Harbour Cloud Hosting Ltd expired 7 days ago" in s for s in subjects)
        assert len(subjects) == len(set(subjects))
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("worker started: 2 threads") for m in messages)
    assert "worker stopped" in messages


def test_worker_check_fails_with_one_line_when_the_queue_is_unreachable(tmp_path: Path) -> None:
    result = run(tmp_path, "worker", "--check", ATTEST_QUEUE_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("attest: the job queue cannot be read:")
    bad = run(tmp_path, "worker", ATTEST_QUEUE_URL="amqp://nowhere")
    assert bad.returncode == 2 and "ATTEST_QUEUE_URL" in bad.stderr and "Traceback" not in bad.stderr
