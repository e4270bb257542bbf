"""Agreed variations in the browser: the engagement's page of variations (every party reads it;
the buyer's advisors record and remove), and the small form on the plan page's deadline
section, which posts here. Each handler parses, calls app.services.variations (which applies
the rule and audits), commits once and redirects back to the plan's deadlines; a refused
variation re-renders this page with the reason (422, or 409 when it is recorded already)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.domain.errors import Conflict, InvalidInput
from app.http import auth
from app.http.deps import SessionDep
from app.http.loaders import EngagementToDecide, EngagementToView
from app.models import Engagement
from app.services import variations as service
from app.services.caller import Caller
from app.services.deadlines import engagement_deadlines
from app.web import forms
from app.web.templating import render

router = APIRouter(include_in_schema=False)
FIELDS = ("what", "due_on", "reference", "agreed_on", "note")


def page(
    request: Request,
    db: SessionDep,
    caller: Caller,
    engagement: Engagement,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    today = clock.today()
    context = {
        "engagement": engagement,
        "listed": service.listing(db, engagement, caller, today=today),
        "deadlines": engagement_deadlines(db, engagement, today=today),
        "kind_names": service.KIND_NAMES,
        "variation_errors": errors or {},
        "variation_values": values or {},
    }
    return render(request, "variations/index.html", context, status_code=status_code)


def _back(request: Request, engagement: Engagement) -> RedirectResponse:
    url = str(request.url_for("approvals:plan", engagement_id=engagement.id)) + "#deadlines"
    return RedirectResponse(url, status_code=303)


def _errors(error: InvalidInput | Conflict) -> dict[str, str]:
    """The problems by form field (ids `variation-<field>`): those the service names (date,
    reference, note), otherwise the message under "what" (the choice of what was agreed)."""
    details = error.details if isinstance(error.details, dict) else {}
    named = {f"variation-{k}": v for k, v in details.items() if k in FIELDS[1:] and isinstance(v, str)}
    return named or {"variation-what": error.message}


@router.get("/engagements/{engagement_id}/variations", name="variations:index")
def index(
    request: Request, engagement: EngagementToView, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    return page(request, db, caller, engagement)


@router.post("/engagements/{engagement_id}/variations", name="variations:record")
async def record(
    request: Request, engagement: EngagementToDecide, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    """Buyer advisors: record an agreed variation. `what` is "kind|deadline kind|object id" (the
    plan page offers only what the contract allows to vary)."""
    form = await request.form()
    values = {name: forms.text(form, name) for name in FIELDS}
    kind, _, rest = values["what"].partition("|")
    deadline_kind, _, object_id = rest.partition("|")
    try:
        service.record(
            db,
            engagement,
            caller,
            kind=kind,
            deadline_kind=deadline_kind,
            object_id=object_id,
            due_on=values["due_on"],
            reference=values["reference"],
            agreed_on=values["agreed_on"],
            note=values["note"],
            today=clock.today(),
        )
    except (InvalidInput, Conflict) as error:
        db.rollback()
        status = 409 if isinstance(error, Conflict) else 422
        return page(request, db, caller, engagement, errors=_errors(error), values=values, status_code=status)
    db.commit()
    return _back(request, engagement)


@router.post("/engagements/{engagement_id}/variations/{variation_id}/remove", name="variations:remove")
async def remove(
    request: Request,
    variation_id: str,
    engagement: EngagementToDecide,
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> Response:
    """Buyer advisors: take a variation back; the contract's rule applies again."""
    service.remove(db, engagement, caller, variation_id)
    db.commit()
    return _back(request, engagement)
