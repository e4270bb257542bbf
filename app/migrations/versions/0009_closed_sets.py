"""closed sets: stored states, statuses, sources, kinds and markings are checked against their enums

The columns below are read back as the domain's StrEnum (app.models.base.EnumText), which refuses
a value outside the set. The column type in the database does not change (a string of the same
length); this revision only makes sure the stored values are members:

- a value that differs from a member only by surrounding whitespace or letter case is rewritten
  to the member ("  Met " becomes "met", "official-sensitive" becomes "OFFICIAL-SENSITIVE");
- any other value stops the upgrade before anything is written, naming the table, the column and
  the value, so that it can be corrected by hand (nothing is guessed).

The sets are written out here rather than imported, so that this revision keeps meaning what it
meant when later code changes the enums. Downgrading changes nothing: the old code reads these
values as plain strings.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLAN_STATES = ("draft", "submitted", "approved", "rejected", "dispute", "terminated")
CLOSED_SETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("plan_case", "state", PLAN_STATES),
    ("plan_transition", "move", ("submit", "approve", "reject", "resolve_dispute", "terminate")),
    ("plan_transition", "from_state", PLAN_STATES),
    ("plan_transition", "to_state", PLAN_STATES),
    ("register_entry", "source", ("gap", "change_notice", "manual")),
    ("register_entry", "status", ("planned", "in_progress", "implemented")),
    ("decision", "consequence", ("", "dispute", "material_default")),
    ("control_response", "status", ("met", "partially_met", "not_met", "not_applicable")),
    ("evidence", "kind", ("policy", "procedure", "certificate", "report", "screenshot", "other")),
    ("evidence", "marking", ("OFFICIAL", "OFFICIAL-SENSITIVE")),
)


class OutsideClosedSet(RuntimeError):
    """A stored value that is no member of its column's set, even ignoring whitespace and case."""


def member_for(value: str | None, allowed: Sequence[str]) -> str | None:
    """The member `value` stands for (ignoring surrounding whitespace and case), or None."""
    if value is None:
        return None
    by_folded = {member.casefold(): member for member in allowed}
    return by_folded.get(value.strip().casefold())


def plan(connection: sa.engine.Connection) -> list[tuple[str, str, str, str]]:
    """The rewrites (table, column, stored value, member) this revision makes; raises
    OutsideClosedSet naming every value that is no member, before anything is written."""
    rewrites: list[tuple[str, str, str, str]] = []
    bad: list[str] = []
    for table, column, allowed in CLOSED_SETS:
        stored = sa.column(column, sa.String())
        query = sa.select(stored).select_from(sa.table(table, stored)).distinct()
        for (value,) in connection.execute(query):
            member = member_for(value, allowed)
            if member is None:
                bad.append(
                    f"{table}.{column} holds {value!r}, which is not one of: "
                    + ", ".join(repr(m) for m in allowed)
                )
            elif member != value:
                rewrites.append((table, column, value, member))
    if bad:
        raise OutsideClosedSet(
            "Cannot upgrade to 0009: stored values outside their closed set. Correct these rows"
            " and run the upgrade again (nothing was changed):\n- " + "\n- ".join(bad)
        )
    return rewrites


def upgrade() -> None:
    connection = op.get_bind()
    for table, column, value, member in plan(connection):
        stored = sa.column(column, sa.String())
        connection.execute(sa.update(sa.table(table, stored)).where(stored == value).values({column: member}))


def downgrade() -> None:
    """Nothing to undo: the values were only normalised to the members the old code wrote."""
