"""Browse, filter and export the audit log (administrators and buyer advisors)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.db import session_scope
from app.domain import dates
from app.domain.access import Action, Actor
from app.domain.audit import HASHED_FIELDS
from app.domain.errors import InvalidInput
from app.services import audit_log
from app.web import auth
from app.web.deps import SessionDep
from app.web.routes.admin import require
from app.web.templating import render

router = APIRouter(prefix="/audit", include_in_schema=False, dependencies=[Depends(auth.require_principal)])
CSV_COLUMNS = (*HASHED_FIELDS, "hash")  # the chained fields, then the link


def parse_day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: use a date like 2026-11-21.", details={"field": field}) from None
    problem = dates.problem(day, field.capitalize())  # inside the window: `until` + 1 day never overflows
    if problem:
        raise InvalidInput(problem, details={"field": field})
    return datetime.combine(day, datetime.min.time(), tzinfo=dates.LONDON)  # a London day


def as_utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment else None


@dataclass(frozen=True)
class AuditQuery:
    """The filters of the audit page and its CSV export, from the query string."""

    action: str = ""
    outcome: str = ""
    actor: str = ""
    object_id: str = ""
    since: str = ""
    until: str = ""

    def filters(self, before: int | None = None) -> audit_log.AuditFilter:
        end = parse_day(self.until, "until")
        return audit_log.AuditFilter(
            action=self.action.strip(),
            outcome=self.outcome.strip(),
            actor_user_id=self.actor.strip(),
            object_id=self.object_id.strip(),
            since=as_utc(parse_day(self.since, "since")),
            until=as_utc(end + timedelta(days=1) if end else None),  # London midnight to midnight
            before_seq=before,
        )

    def query_string(self) -> str:
        return urlencode({k: v for k, v in asdict(self).items() if v})


def audit_query(
    action: str = Query("", max_length=64),
    outcome: str = Query("", max_length=16),
    actor: str = Query("", max_length=64),
    object_id: str = Query("", max_length=64),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
) -> AuditQuery:
    return AuditQuery(action, outcome, actor, object_id, since, until)


AuditQueryDep = Annotated[AuditQuery, Depends(audit_query)]


@router.get("", name="audit:index")
def index(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    query: AuditQueryDep,
    before: int | None = Query(None, ge=1),
) -> Response:
    require(request, db, principal, Action.VIEW_AUDIT)
    events = audit_log.page(db, principal.actor, query.filters(before))
    context = {
        "events": events,
        "query": asdict(query),
        "next_before": events[-1].seq if len(events) == audit_log.PAGE_SIZE else None,
        "csv_query": query.query_string(),
    }
    return render(request, "audit/index.html", context)


@router.get("/export.csv", name="audit:export")
def export(
    request: Request, db: SessionDep, principal: auth.CurrentPrincipal, query: AuditQueryDep
) -> Response:
    require(request, db, principal, Action.VIEW_AUDIT)
    filters = query.filters()
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
    return audit_log.csv_cell(text)
