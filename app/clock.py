"""The one place that reads the clock for a day that counts: "today" is the London date.

Every route, command and job that needs "today" (a submission's day, a decision's day, the day
deadlines and reminders are evaluated) calls `today()`; services and app.domain take it as an
argument. Timestamps stay UTC (app.models.utcnow); app.domain.dates.london_date gives a stored
instant's London day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.domain.dates import london_date


def now() -> datetime:
    """This instant, in UTC (as stored)."""
    return datetime.now(UTC)


def today() -> date:
    """Today in Europe/London, whatever the server's zone."""
    return london_date(now())
