"""Agreed variations: what the parties agreed in writing instead of a contract's default rule.

Several clauses leave room for the parties to agree something else, and a deadline is only
exact when that agreement is recorded:

- "or such other timescale as agreed": Schedule 2.4 paras 4.4 (first plan), 4.5 (decision),
  4.6 (revised plan) and 5.3 (Required Changes Register update); Call Off Schedule 7 paras
  3.1 (ISMS) and 4.3.1, 4.3.2 (plan and revised plan, "or such other period as the Parties
  may agree"). Kind `deadline`: an agreed date replaces the computed one for one deadline.
- "unless directed otherwise in writing": Schedule 2.4 para 5.5 (cease processing when a
  required change is not implemented by its agreed date). Kind `direction`: the buyer's
  written direction that processing may continue, for one register entry.
- Working Days "unless specified otherwise by Parties": Call Off Schedule 7 (definition of
  Working Day). Kind `calendar`: both parties agreed that the buyer's declared office closure
  days are not Working Days in this engagement.

A variation names the agreement (its reference and the date it was made), who recorded it,
and, once taken back, when. The rule it varies is still shown beside it.

Which clauses allow what was checked against the seeds' own words: Schedule 2.4 paras 4.4 and
4.5 and the long form of Call Off Schedule 7 paras 4.1 and 4.3 (the 10 Working Days to amend)
allow no agreed other timescale, so their deadlines cannot be varied (the profile's
`Period.may_vary`, app.domain.workflow). Only the buyer's security advisors record or remove a
variation (app.services.variations); each is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class VariationKind(StrEnum):
    DEADLINE = "deadline"
    DIRECTION = "direction"
    CALENDAR = "calendar"


class CallOffForm(StrEnum):
    """Which form of Call Off Schedule 7 the engagement's contract uses (seed 002 has both)."""

    SHORT = "short"
    LONG = "long"


@dataclass(frozen=True, slots=True)
class Variation:
    """One agreed variation in force (not removed), as the deadline rules read it."""

    id: str
    kind: VariationKind
    reference: str
    agreed_on: date
    recorded_by: str
    recorded_at: datetime
    deadline_kind: str = ""  # kind=deadline: the deadline varied; kind=direction: register_entry_due
    object_id: str = ""  # the submission, notice or register entry; "" for the engagement
    due_on: date | None = None  # kind=deadline: the agreed date
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "deadline_kind": self.deadline_kind,
            "object_id": self.object_id,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "reference": self.reference,
            "agreed_on": self.agreed_on.isoformat(),
            "note": self.note,
            "recorded_by": self.recorded_by,
            "recorded_at": self.recorded_at.isoformat(),
        }


def agreed_calendar(variations: Iterable[Variation]) -> Variation | None:
    """The `calendar` variation in force, if the parties agreed one."""
    return next((v for v in variations if v.kind is VariationKind.CALENDAR), None)


def for_deadline(variations: Iterable[Variation], deadline_kind: str, object_id: str) -> Variation | None:
    """The agreed date for one deadline (kind `deadline`), if any."""
    return next(
        (
            v
            for v in variations
            if v.kind is VariationKind.DEADLINE
            and v.deadline_kind == deadline_kind
            and v.object_id == object_id
        ),
        None,
    )


def direction_for(variations: Iterable[Variation], entry_id: str) -> Variation | None:
    """The written direction for one Required Changes Register entry (kind `direction`), if any."""
    return next(
        (v for v in variations if v.kind is VariationKind.DIRECTION and v.object_id == entry_id), None
    )
