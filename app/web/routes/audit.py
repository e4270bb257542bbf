"""Browse, filter and export the audit log (administrators and buyer advisors)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.db import session_scope
from app.domain.access import Action, Actor
from app.domain.errors import InvalidInput
from app.services import audit_log
from app.web import auth
from app.web.deps import SessionDep
from app.web.routes.admin import require
from app.web.templating import render

router = APIRouter(prefix="/audit", include_in_schema=False, dependencies=[Depends(auth.require_principal)])
CSV_COLUMNS = (
    "seq",
    "at",
    "actor_user_id",
    "actor_org_id",
    "action",
    "object_type",
    "object_id",
    "engagement_id",
    "outcome",
    "address",
    "request_id",
    "details",
    "hash",
)


def parse_day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"{field}: use a date like 2026-11-21.", details={"field": field}) from None


def filters_from(
    action: str,
    outcome: str,
    actor: str,
    object_id: str,
    since: str,
    until: str,
    before: int | None,
) -> audit_log.AuditFilter:
    end = parse_day(until, "until")
    return audit_log.AuditFilter(
        action=action.strip(),
        outcome=outcome.strip(),
        actor_user_id=actor.strip(),
        object_id=object_id.strip(),
        since=parse_day(since, "since"),
        until=end + timedelta(days=1) if end else None,
        before_seq=before,
    )


@router.get("", name="audit:index")
def index(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    action: str = Query("", max_length=64),
    outcome: str = Query("", max_length=16),
    actor: str = Query("", max_length=64),
    object_id: str = Query("", max_length=64),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
    before: int | None = Query(None, ge=1),
) -> Response:
    require(request, db, principal, Action.VIEW_AUDIT)
    filters = filters_from(action, outcome, actor, object_id, since, until, before)
    events = audit_log.page(db, principal.actor, filters)
    query = {
        "action": action,
        "outcome": outcome,
        "actor": actor,
        "object_id": object_id,
        "since": since,
        "until": until,
    }
    context = {
        "events": events,
        "query": query,
        "next_before": events[-1].seq if len(events) == audit_log.PAGE_SIZE else None,
        "csv_query": "&".join(f"{k}={v}" for k, v in query.items() if v),
    }
    return render(request, "audit/index.html", context)


@router.get("/export.csv", name="audit:export")
def export(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    action: str = Query("", max_length=64),
    outcome: str = Query("", max_length=16),
    actor: str = Query("", max_length=64),
    object_id: str = Query("", max_length=64),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
) -> Response:
    require(request, db, principal, Action.VIEW_AUDIT)
    filters = filters_from(action, outcome, actor, object_id, since, until, None)
    engine = request.app.state.engine
    viewer: Actor = principal.actor

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with session_scope(engine) as db:
            for event in audit_log.stream(db, viewer, filters):
                writer.writerow([_cell(getattr(event, c)) for c in CSV_COLUMNS])
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    headers = {
        "Content-Disposition": 'attachment; filename="attest-audit.csv"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else "" if value is None else str(value)
    # Spreadsheets run cells that start with these as formulas (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
