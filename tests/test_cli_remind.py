"""`attest remind` as cron runs it: a real process, the demo data, real SMTP; twice sends nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app import clock
from tests.smtp import Inbox, serve, smtp_env
from tests.test_cli import run


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from serve()


def test_remind_sends_demo_reminders_once_over_smtp(tmp_path: Path, smtp_server: Inbox) -> None:
    env = smtp_env(smtp_server, ATTEST_BASE_URL="https://attest.example")
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "demo", "--json").returncode == 0
    first = run(tmp_path, "remind", "--json", **env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["ran"] and result["recorded"] == result["emailed"] > 0
    # The demo sub-contractor's CE Plus expired 10 days ago: supplier and buyer hear of it.
    lead = smtp_server.to("lead@northwind.example")
    advisor = smtp_server.to("advisor@cps.example")
    assert any("Harbour Cloud Hosting Ltd expired 7 days ago" in m.subject for m in lead)
    assert any("Harbour Cloud Hosting Ltd expired 7 days ago" in m.subject for m in advisor)
    assert all("https://attest.example/" in m.body("plain") for m in lead + advisor)
    harbour = next(m for m in lead if "Harbour" in m.subject)
    assert "https://attest.example/certificates/" in harbour.body("plain")
    again = json.loads(run(tmp_path, "remind", "--json", **env).stdout)
    assert again["recorded"] == 0 and again["emailed"] == 0
    # Back-fill a day far ahead: the ISO certificate (expiring in 20 days) gets its reminders.
    later = (clock.today() + timedelta(days=25)).isoformat()
    ahead = json.loads(run(tmp_path, "remind", "--as-of", later, "--json", **env).stdout)
    assert ahead["window"][1] == later and ahead["emailed"] == ahead["recorded"] > 0
    subjects = [m.subject for m in smtp_server.to("lead@northwind.example")]
    assert len(subjects) == len(set(subjects))
    assert any(
        "ISO/IEC 27001 certificate of Northwind Secure Transfer Ltd expires today" in s for s in subjects
    )


def test_remind_refuses_bad_options_with_one_line(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    for args, text in (
        (("--as-of", "21/11/2026"), "--as-of: give the day as YYYY-MM-DD"),
        (("--every", "soon"), "--every: give the interval"),
        (("--every", "10s"), "at least 1 minute"),
    ):
        result = run(tmp_path, "remind", *args)
        assert result.returncode == 2 and text in result.stderr and "Traceback" not in result.stderr
