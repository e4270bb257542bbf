"""iCalendar (RFC 5545) text for the calendar feed, written by hand: all-day VEVENTs with stable UIDs.

A UID is the item's kind, object and due date, so a calendar client updates an event instead of
duplicating it when the feed is fetched again, and a moved due date is a new event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from app.domain import reminders as rules
from app.domain.dates import shift

PRODID = "-//Attest//Certificates and deadlines//EN"


def escape(text: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11)."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a CRLF and a space (3.1)."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        limit = 75 if not parts else 74
        if len(current) + len(encoded) > limit:
            parts.append(current.decode("utf-8"))
            current = b""
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def _day(day: date) -> str:
    """DATE value (3.3.4): always eight digits (strftime drops the zeros of a year before 1000)."""
    return day.isoformat().replace("-", "")


def calendar(items: Iterable[rules.Item], *, base_url: str, name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
    ]
    seen: set[str] = set()
    for item in items:
        uid = f"{item.kind}-{item.object_id}-{_day(item.due_on)}@attest"
        end = shift(item.due_on, 1)
        if uid in seen or end is None:  # an all-day event on 9999-12-31 has no end day: leave it out
            continue
        seen.add(uid)
        url = base_url.rstrip("/") + item.link
        summary = f"{item.subject}: {item.kind.replace('_', ' ')}"
        if item.kind == rules.CERTIFICATE_EXPIRY:
            summary = f"{item.subject} expires"
        elif item.kind == rules.CERTIFICATE_SUBMISSION:
            summary = f"{item.subject} is due"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{_day(item.due_on)}",
            f"DTEND;VALUE=DATE:{_day(end)}",
            f"SUMMARY:{escape(summary)}",
            f"DESCRIPTION:{escape(summary + '. ' + url)}",
            f"URL:{url}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
