"""Whether an issued statement still stands, and what a verification request must look like.

Schedule 2.4 para 4.5(a): the buyer's approval of the Security Management Plan is given by an
Information Security Approval Statement; para 4.5(b): a rejection is a rejection notice. An
updated plan approved later (paras 4.6, 4.7: the plan is kept up to date and re-approved)
replaces the earlier approval, so an ISAS is in force until a later ISAS supersedes it, or
until the engagement is terminated (it is then withdrawn). A rejection notice stands until the
buyer's next decision on that engagement. Pure: the caller loads the decisions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

NUMBER = re.compile(r"^(ISAS|RN)-\d{4}-\d{4,}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Standing(StrEnum):
    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Decided:
    """What the rule needs of one decision."""

    number: str
    approved: bool
    decided_on: date
    order: datetime | int  # when it was recorded (decisions on one day keep their order)


@dataclass(frozen=True, slots=True)
class Verdict:
    standing: Standing
    by: Decided | None = None  # the decision that superseded it


def standing_of(decision: Decided, others: Sequence[Decided], *, terminated: bool) -> Verdict:
    """How `decision` stands, given every other decision on the same engagement."""
    later = sorted((d for d in others if d.order > decision.order), key=lambda d: d.order)  # type: ignore[operator]
    if decision.approved:
        replacing = next((d for d in later if d.approved), None)
        if replacing is not None:
            return Verdict(Standing.SUPERSEDED, replacing)
        return Verdict(Standing.WITHDRAWN) if terminated else Verdict(Standing.IN_FORCE)
    if later:
        return Verdict(Standing.SUPERSEDED, later[0])
    return Verdict(Standing.IN_FORCE)


def normalised(number: str, sha256: str) -> tuple[str, str]:
    return number.strip().upper(), sha256.strip().lower()


def input_problems(number: str, sha256: str) -> dict[str, str]:
    """A message per field that cannot be a statement's number or a plan's hash."""
    number, sha256 = normalised(number, sha256)
    problems: dict[str, str] = {}
    if not number:
        problems["number"] = "Enter the statement number, as printed at the top of the statement."
    elif not NUMBER.match(number):
        problems["number"] = "Enter the number as printed, for example ISAS-2026-0001 or RN-2026-0002."
    if not sha256:
        problems["sha256"] = "Enter the plan's SHA-256, as printed on the statement."
    elif not SHA256.match(sha256):
        problems["sha256"] = "Enter the SHA-256 as printed: 64 characters, digits 0 to 9 and letters a to f."
    return problems
