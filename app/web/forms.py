"""Reading browser forms into the typed input services take. A field the service checks itself
(titles, dates as typed) passes through as text; a number that does not parse is a problem named
after its field, so the page re-renders with the reason (422)."""

from __future__ import annotations

from starlette.datastructures import FormData

from app.domain.errors import InvalidInput
from app.http.date_fields import date_value, date_wording

__all__ = ["date_value", "date_wording"]


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
