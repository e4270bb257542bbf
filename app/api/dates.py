"""Dates in API request bodies: the window of app.domain.dates, checked while the body is parsed.

A date outside the window answers 422 with the field's name in `details` (and in the message),
before any service runs; the services check the same rule again for every other caller.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from app.domain import dates

WINDOW = f"YYYY-MM-DD, from {dates.EARLIEST.isoformat()} to {dates.LATEST.isoformat()}"


def _in_window(value: date, info: ValidationInfo) -> date:
    label = (info.field_name or "date").replace("_", " ").capitalize()
    message = dates.problem(value, label)
    if message:
        raise PydanticCustomError("date_out_of_range", message)
    return value


WindowDate = Annotated[date, AfterValidator(_in_window), Field(description=WINDOW)]
