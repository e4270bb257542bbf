"""Optimistic concurrency for everything people edit: responses, risks, register entries, plan parts.

The rule: a save names the version it was based on (`expected_version`); it wins only if the row
is still at that version. The check and the increment are ONE conditional statement,
`UPDATE ... SET version = version + 1 WHERE <key> AND version = :expected`, so no database and
no isolation level can interleave another save between them (comparing in Python and writing
`version += 1` lost 96 of 286 saves on PostgreSQL). A first save inserts inside a SAVEPOINT: when
another first save wins the unique key, it is a conflict (409), and the transaction stays usable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from app.domain.errors import Conflict


def stale(what: str, current: int) -> Conflict:
    """The one message for a lost race, naming the version that won."""
    where = f"it is now at version {current}" if current else "it has since been removed"
    return Conflict(
        f"Someone else saved this {what} since you opened it ({where}). Reload to see their changes.",
        details={"current_version": current},
    )


def check(what: str, current: int, expected: int | None) -> None:
    """Refuse early when the caller's version is already out of date (the UPDATE re-checks)."""
    if expected is not None and expected != current:
        raise stale(what, current)


def _version_column(model: type[SQLModel]) -> Any:
    return model.__table__.c.version  # type: ignore[attr-defined]


def current_version(session: Session, model: type[SQLModel], key: list[ColumnElement[bool]]) -> int:
    found = session.exec(select(_version_column(model)).where(*key)).one_or_none()
    return int(found) if found is not None else 0


def update(
    session: Session,
    row: SQLModel,
    key: list[ColumnElement[bool]],
    based_on: int,
    values: Mapping[str, Any],
    what: str,
) -> None:
    """Write `values` and move the row from version `based_on` to the next, or raise Conflict.

    `row` is refreshed afterwards, so callers see the stored values and the new version.
    """
    model = type(row)
    version = _version_column(model)
    statement = (
        sql_update(model)
        .where(*key, version == based_on)
        .values(**values, version=version + 1)
        .execution_options(synchronize_session=False)
    )
    if session.exec(statement).rowcount != 1:
        raise stale(what, current_version(session, model, key))
    session.refresh(row)


def delete(
    session: Session, model: type[SQLModel], key: list[ColumnElement[bool]], based_on: int, what: str
) -> None:
    """Delete the row only if it is still at version `based_on`."""
    table = model.__table__  # type: ignore[attr-defined]
    statement = table.delete().where(*key, _version_column(model) == based_on)
    if session.exec(statement).rowcount != 1:
        raise stale(what, current_version(session, model, key))


def insert_first(session: Session, row: SQLModel, key: list[ColumnElement[bool]], what: str) -> None:
    """Insert the first version; losing the race for the unique key is a conflict, not a 500."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        current = current_version(session, type(row), key)
        if not current:
            raise  # not a lost race: some other constraint
        raise stale(what, current) from None
