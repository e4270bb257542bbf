"""The watch that keeps each engagement's summary stamp moving (issue 18 item 6).

Every write that can change what an engagement's stored summary shows (app.models.summaries)
moves its `engagement_stamp` revision on, in the same transaction as the write, so a summary
computed at an older revision is never used: it is recomputed first. The one place is the
session: its flush (rows added, changed or deleted through the ORM) and its bulk statements
(UPDATE and DELETE by condition, as app.services.versioning issues them). A table is watched with
the column that says whose summary it touches:

- an engagement's own rows: its answers, scoping, evidence links, answer history (the trend),
  catalogues, plan case, submissions, decisions, change notices, register entries and agreed
  variations, and the engagement row itself;
- a supplier's rows, for each of its engagements: certificates, sub-contractors, the evidence
  library (an evidence item's expiry);
- a buyer's closure days, for each of its engagements;
- an organisation (its name appears in blockers and deadlines), for each engagement it is party to.

What the summary's computation reads is checked against this list
(tests/services/test_summaries.py), so a new input cannot be forgotten silently. Today's date is
not a write: a summary also records the day it was computed for."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Connection, event, literal, or_, select, true
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import SQLModel

BY_ENGAGEMENT = (
    "control_response",
    "scoping_answer",
    "evidence_link",
    "response_change",
    "engagement_catalogue",
    "plan_case",
    "submission",
    "decision",
    "change_notice",
    "register_entry",
    "agreed_variation",
)
# table name -> (scope, the column naming it): scope is engagement, supplier, buyer or organisation
WATCHED: dict[str, tuple[str, str]] = {
    **{name: ("engagement", "engagement_id") for name in BY_ENGAGEMENT},
    "engagement": ("engagement", "id"),
    "certificate": ("supplier", "supplier_org_id"),
    "subcontractor": ("supplier", "supplier_org_id"),
    "evidence": ("supplier", "supplier_org_id"),
    "closure_day": ("buyer", "buyer_org_id"),
    "organisation": ("organisation", "id"),
}


def _engagement_table() -> Any:
    return SQLModel.metadata.tables["engagement"]


def scope_condition(scope: str, ids: Any) -> ColumnElement[bool]:
    """The engagements a scope's ids touch (`ids`: a list, or a subquery of them)."""
    engagement = _engagement_table()
    if scope == "engagement":
        return engagement.c.id.in_(ids)  # type: ignore[no-any-return]
    if scope == "supplier":
        return engagement.c.supplier_org_id.in_(ids)  # type: ignore[no-any-return]
    if scope == "buyer":
        return engagement.c.buyer_org_id.in_(ids)  # type: ignore[no-any-return]
    return or_(engagement.c.supplier_org_id.in_(ids), engagement.c.buyer_org_id.in_(ids))


def bump(connection: Connection, conditions: list[ColumnElement[bool]]) -> None:
    """Move on the stamp of every engagement matching any of `conditions`, in one statement."""
    if not conditions:
        return
    engagement = _engagement_table()
    stamp = SQLModel.metadata.tables["engagement_stamp"]
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    rows = select(engagement.c.id, literal(1)).where(or_(*conditions))
    statement = (
        insert(stamp)
        .from_select(["engagement_id", "revision"], rows)
        .on_conflict_do_update(
            index_elements=[stamp.c.engagement_id], set_={"revision": stamp.c.revision + 1}
        )
    )
    connection.execute(statement)


# A session whose database predates migration 0017 (one a migration test writes to before it
# upgrades) sets `session.info[UNSTAMPED] = True`: there is no stamp table to move on yet.
UNSTAMPED = "attest.unstamped"


def _after_flush(session: Session, _context: Any) -> None:
    if session.info.get(UNSTAMPED):
        return
    keys: dict[str, set[str]] = defaultdict(set)
    for obj in (*session.new, *session.dirty, *session.deleted):
        found = WATCHED.get(getattr(type(obj), "__tablename__", ""))
        if found is None:
            continue
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        scope, column = found
        state = sa_inspect(obj)
        value = state.dict.get(column)
        if value is None and obj not in session.deleted:
            value = getattr(obj, column, None)
        before = state.committed_state.get(column)  # the value it had, when the write changes it
        keys[scope].update(v for v in (value, before) if isinstance(v, str))
    bump(session.connection(), [scope_condition(scope, sorted(ids)) for scope, ids in keys.items() if ids])


def _on_execute(state: ORMExecuteState) -> None:
    """Bulk statements bypass the flush: the engagements of the rows they match are moved on
    first, in the same transaction (a DELETE's rows are matched before they go)."""
    if not (state.is_update or state.is_delete or state.is_insert) or state.session.info.get(UNSTAMPED):
        return
    table = getattr(state.statement, "table", None)
    found = WATCHED.get(getattr(table, "name", ""))
    if found is None or table is None:
        return
    scope, column = found
    condition: ColumnElement[bool]
    if state.is_insert:
        params = state.parameters
        rows = params if isinstance(params, list) else [params or {}]
        ids = {r.get(column) for r in rows if isinstance(r, dict)}
        named = sorted(str(i) for i in ids if i is not None)
        # values not in the parameters (an INSERT ... SELECT): every engagement, to be safe
        condition = true() if not named or None in ids else scope_condition(scope, named)
    else:
        where = getattr(state.statement, "whereclause", None)
        matched = select(table.c[column])
        condition = scope_condition(scope, matched.where(where) if where is not None else matched)
    bump(state.session.connection(), [condition])


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "do_orm_execute", _on_execute)
