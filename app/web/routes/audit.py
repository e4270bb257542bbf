"""Browse, filter and export the audit log (administrators and buyer advisors).

The page and its CSV export take the same filters from the query string (person, engagement,
action, outcome, object id, and a London date range), so the export link carries whatever the
page shows. People, engagements and actions are shown by name (app.services.audit_log and
app.domain.audit_labels); the ids stay in the CSV and in each cell's title for investigators.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.db import session_scope
from app.domain import dates
from app.domain.access import Action, Actor
from app.domain.audit import HASHED_FIELDS
from app.domain.audit_labels import action_choices
from app.domain.errors import InvalidInput
from app.http import auth
from app.http.deps import SessionDep
from app.services import audit_log
from app.services.audit_log import AuditEntry, Choice
from app.web.templating import render

router = APIRouter(prefix="/audit", include_in_schema=False, dependencies=[Depends(auth.require_principal)])
# What a person reads first, then the hashed fields (the ids), the record's place in its
# tenant's chain and its hash rule, then the link: enough to check a record by hand.
READABLE_COLUMNS = (
    "actor_name",
    "actor_organisation",
    "action_label",
    "engagement_reference",
    "engagement_title",
)
CSV_COLUMNS = (*READABLE_COLUMNS, *HASHED_FIELDS, "chain", "chain_seq", "hash_version", "hash")
OUTCOMES = (Choice("allowed", "Allowed"), Choice("denied", "Refused"))
FROM_LABEL, TO_LABEL = "From date", "To date"
ORDER_MESSAGE = "The to date must be the same as or after the from date."


@dataclass(frozen=True)
class AuditQuery:
    """The filters of the audit page and its CSV export, from the query string."""

    actor: str = ""
    engagement: str = ""
    action: str = ""
    outcome: str = ""
    object_id: str = ""
    since: str = ""
    until: str = ""

    def problems(self) -> dict[str, str]:
        """Why the dates cannot be used, by field; empty when they can (or are not given)."""
        problems: dict[str, str] = {}
        start = dates.read(self.since, "since", FROM_LABEL, problems)
        end = dates.read(self.until, "until", TO_LABEL, problems)
        if start and end and start > end:
            problems["until"] = ORDER_MESSAGE
        return problems

    def filters(self, before: int | None = None) -> audit_log.AuditFilter:
        """The service's filter; the dates as London midnights, `until` taking its whole day.
        Raises InvalidInput (details by field) for a date `problems` refuses."""
        problems = self.problems()
        if problems:
            raise InvalidInput(next(iter(problems.values())), details=problems)
        start, end = _day(self.since), _day(self.until)
        return audit_log.AuditFilter(
            action=self.action.strip(),
            outcome=self.outcome.strip(),
            actor_user_id=self.actor.strip(),
            object_id=self.object_id.strip(),
            engagement_id=self.engagement.strip(),
            since=_london_midnight(start) if start else None,
            until=_london_midnight(end + timedelta(days=1)) if end else None,  # inside the window
            before_seq=before,
        )

    def query_string(self, **extra: str | int) -> str:
        """The filters given (and `extra`) as a query string, for the export and paging links."""
        return urlencode({**{k: v for k, v in asdict(self).items() if v}, **extra})


def _day(value: str) -> date | None:
    return date.fromisoformat(value.strip()) if value.strip() else None


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=dates.LONDON).astimezone(UTC)


def audit_query(
    actor: str = Query("", max_length=64),
    engagement: str = Query("", max_length=64),
    action: str = Query("", max_length=64),
    outcome: str = Query("", max_length=16),
    object_id: str = Query("", max_length=64),
    since: str = Query("", max_length=32),
    until: str = Query("", max_length=32),
) -> AuditQuery:
    return AuditQuery(actor, engagement, action, outcome, object_id, since, until)


AuditQueryDep = Annotated[AuditQuery, Depends(audit_query)]


def _options(choices: list[Choice], selected: str, anything: str) -> list[tuple[str, str]]:
    """A select's options: "any" first, then the choices; a value from the query string that is
    not among them (a person the viewer cannot list) stays selectable rather than lost."""
    options = [("", anything), *((c.value, c.label) for c in choices)]
    if selected and selected not in {c.value for c in choices}:
        options.append((selected, selected))
    return options


@router.get("", name="audit:index")
def index(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    query: AuditQueryDep,
    before: int | None = Query(None, ge=1),
) -> Response:
    auth.require(request, db, principal, Action.VIEW_AUDIT)
    viewer = principal.actor
    errors = query.problems()
    entries: list[AuditEntry] = [] if errors else audit_log.page(db, viewer, query.filters(before))
    full_page = len(entries) == audit_log.PAGE_SIZE
    context: dict[str, Any] = {
        "entries": entries,
        "query": asdict(query),
        "errors": errors,
        "people": _options(audit_log.people(db, viewer), query.actor, "Anyone"),
        "engagements": _options(audit_log.engagements(db, viewer), query.engagement, "Any engagement"),
        "actions": _options([Choice(*c) for c in action_choices()], query.action, "Any action"),
        "outcomes": _options(list(OUTCOMES), query.outcome, "Any outcome"),
        "filter_query": query.query_string(),
        "older_query": query.query_string(before=entries[-1].event.seq or 0) if full_page else None,
        "paged": before is not None,
    }
    return render(request, "audit/index.html", context, status_code=422 if errors else 200)


@router.get("/export.csv", name="audit:export")
def export(
    request: Request, db: SessionDep, principal: auth.CurrentPrincipal, query: AuditQueryDep
) -> Response:
    auth.require(request, db, principal, Action.VIEW_AUDIT)
    filters = query.filters()  # a refused date answers 422 before any byte is sent
    engine = request.app.state.engine
    viewer: Actor = principal.actor

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with session_scope(engine) as db:
            for entry in audit_log.stream(db, viewer, filters):
                writer.writerow(csv_row(entry))
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


def csv_row(entry: AuditEntry) -> list[str]:
    """One record as CSV cells: the names, then the stored fields, every cell neutralised."""
    readable = (
        entry.actor,
        entry.organisation,
        entry.action,
        entry.engagement_reference,
        entry.engagement_title,
    )
    stored = (getattr(entry.event, c) for c in CSV_COLUMNS[len(READABLE_COLUMNS) :])
    return [_cell(value) for value in (*readable, *stored)]


def _cell(value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else "" if value is None else str(value)
    return audit_log.csv_cell(text)
