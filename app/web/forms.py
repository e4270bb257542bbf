"""Reading browser forms into the typed input services take. A field the service checks itself
(titles, dates as typed) passes through as text; a number that does not parse is a problem named
after its field, so the page re-renders with the reason (422)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from app.domain.errors import InvalidInput


def text(form: FormData, name: str) -> str:
    """The field as typed ('' when absent)."""
    return str(form.get(name, ""))


def level(form: FormData, name: str, problems: dict[str, str]) -> int:
    """A 1-5 level (likelihood, impact); a problem is noted under `name` when it is not a number."""
    try:
        return int(text(form, name))
    except ValueError:
        problems[name] = f"Choose a {name.replace('_', ' ')} from 1 to 5."
        return 0


def hours(form: FormData, name: str) -> int | None:
    """Whole hours, or None when left empty (the service decides what an empty field means)."""
    value = text(form, name).strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput("Enter whole hours.", details={name: "Enter whole hours."}) from None


def expected_version(form: FormData) -> int | None:
    """The version the form was rendered from (a hidden field); absent means no check."""
    value = text(form, "expected_version")
    return int(value) if value.isdigit() else None


def ticked(form: FormData, name: str) -> bool:
    """A yes/no checkbox or radio answered 'yes'."""
    return text(form, name) == "yes"


def prefixed(form: FormData, prefix: str) -> dict[str, str]:
    """Non-empty fields named `<prefix><key>`, by key (e.g. reason_CPS-1.1 -> {'CPS-1.1': ...})."""
    return {
        str(k)[len(prefix) :]: str(v)
        for k, v in form.multi_items()
        if str(k).startswith(prefix) and str(v).strip()
    }


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
