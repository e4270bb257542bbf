"""Dates typed into forms: the GOV.UK date input's three boxes (`<name>-day`, `-month`,
`-year`) or one ISO field, read the same way for the pages and the multipart uploads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def date_value(fields: Mapping[str, Any], name: str) -> str:
    """A date as YYYY-MM-DD from the GOV.UK date input (`<name>-day`, `-month`, `-year`), or
    the ISO `<name>` the API and older forms send; '' when nothing was typed. Parts that are not
    numbers pass through as typed, so the service refuses them with the field's own message."""
    parts = [str(fields.get(f"{name}-{p}", "") or "").strip() for p in ("year", "month", "day")]
    if not any(parts):
        return str(fields.get(name, "") or "").strip()
    year, month, day = parts
    if all(p.isdigit() for p in parts):
        return f"{year.zfill(4)}-{month.zfill(2)}-{day.zfill(2)}"
    return f"{year}-{month}-{day}"


def date_wording(name: str, message: str, fields: Mapping[str, Any]) -> str:
    """A refused date says "as YYYY-MM-DD" (what the API takes); typed into the GOV.UK date
    input it asks for the day, month and year instead, the boxes the person sees."""
    if f"{name}-day" in fields or f"{name}-month" in fields or f"{name}-year" in fields:
        return message.replace("as YYYY-MM-DD.", "as a day, month and year, for example 27 3 2025.")
    return message
