"""`make run` is the whole product (issue 15 item 8): one command starts the web server and the
worker on the port asked for, with every link under that port, and one Ctrl-C stops both.
Real `make`, real processes; the data goes to the test's own folders."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from app.cli.local import base_url
from app.config import Settings
from tests.conftest import CONTROLS
from tests.test_cli import free_port, run

ROOT = Path(__file__).resolve().parent.parent


def _attest_processes(session_id: int) -> dict[str, dict[str, str]]:
    """The `attest serve` and `attest worker` processes of a session, by command, with their
    environments."""
    found: dict[str, dict[str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session_id:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        words = [a.decode() for a in argv if a]
        for command in ("serve", "worker"):
            if len(words) >= 3 and words[1].endswith("attest") and words[2] == command:
                found[command] = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
    return found


def test_make_run_serves_and_works_on_the_port_asked_for_and_one_interrupt_stops_both(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env.update(
        ATTEST_DATA_DIR=str(tmp_path / "var"),
        ATTEST_EVIDENCE_DIR=str(tmp_path / "evidence"),
        ATTEST_CONTROLS_DIR=str(CONTROLS),
    )
    make = subprocess.Popen(
        ["make", "-s", "-C", str(ROOT), "run", f"PORT={port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert make.poll() is None, make.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "make run did not serve within 90 s"
            time.sleep(0.3)
        processes = _attest_processes(make.pid)
        assert set(processes) == {"serve", "worker"}
        for environ in processes.values():  # mail and feed links, from the server and the worker
            assert environ["ATTEST_BASE_URL"] == f"http://127.0.0.1:{port}"
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        output, _ = make.communicate(timeout=30)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    assert f"Open http://127.0.0.1:{port}/" in output
    assert "Mail is printed in this terminal" in output
    assert _attest_processes(make.pid) == {}  # neither is left running


def test_a_configured_base_url_wins_over_the_port(tmp_path: Path) -> None:
    assert base_url(Settings(base_url="https://attest.example.gov.uk/"), "127.0.0.1", 8201) == (
        "https://attest.example.gov.uk"
    )
    assert base_url(Settings(), "0.0.0.0", 8201) == "http://127.0.0.1:8201"
    assert run(tmp_path, "local", "--port", "8201", "--base-url").stdout == "http://127.0.0.1:8201\n"
    told = run(
        tmp_path, "local", "--port", "8201", ATTEST_MAIL_BACKEND="smtp", ATTEST_SMTP_HOST="mail.internal"
    )
    assert "Mail goes to the SMTP server mail.internal:25." in told.stdout
