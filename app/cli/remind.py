"""`attest remind`: one reminder run, or one every interval."""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Annotated

import typer

from app import clock
from app.adapters.mail import make_mailer
from app.cli.common import JsonFlag, emit, fail, settings_or_fail
from app.db import make_engine
from app.domain import dates
from app.services import reminders
from app.services.health import check_database

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """Seconds in "90s", "30m", "1h" or "1d" (at least a minute, so a typo cannot hammer the mail server)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match:
        raise ValueError("give the interval as a number and a unit: 30m, 1h, 1d")
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds < 60:
        raise ValueError("the interval must be at least 1 minute")
    return seconds


def remind_loop(*, as_of: str, every: str, as_json: bool) -> None:
    settings = settings_or_fail()
    day: date | None = None
    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of: give the day as YYYY-MM-DD (got {as_of!r})")
        problem = dates.problem(day, "The --as-of day")
        if problem:
            fail(f"--as-of: {problem}")
    interval = 0
    if every:
        if day is not None:
            fail("--every runs as of each day it wakes up: use it without --as-of")
        try:
            interval = parse_interval(every)
        except ValueError as error:
            fail(f"--every: {error}")
    engine = make_engine(settings.effective_database_url)
    problem = check_database(engine)
    if problem:
        fail(problem)
    mailer = make_mailer(settings)
    try:
        while True:
            result = reminders.run(engine, mailer, settings, as_of=day or clock.today())
            if not result.ran:
                text = "another process is sending reminders; nothing done"
            elif result.window is None:
                text = (
                    f"reminders already evaluated up to {result.as_of.isoformat()}; "
                    f"{result.emailed} pending emailed"
                )
            else:
                start, end = result.window
                text = (
                    f"reminders {start.isoformat()} to {end.isoformat()}: {result.recorded} recorded, "
                    f"{result.emailed} emailed, {result.failed} failed"
                )
            if result.skipped:  # logged with the traceback; every other engagement was done
                text += f"; skipped (see the log): {', '.join(result.skipped)}"
            emit(as_json, result.to_dict(), text)
            if not interval:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
    if not interval and result.failed:
        raise typer.Exit(code=1)


def remind(
    as_of: Annotated[str, typer.Option("--as-of", help="Evaluate this day (YYYY-MM-DD), not today.")] = "",
    every: Annotated[str, typer.Option("--every", help="Run again after this interval (30m, 1h, 1d).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Send every reminder due since the last run, each exactly once (from cron, or with --every)."""
    remind_loop(as_of=as_of, every=every, as_json=as_json)
