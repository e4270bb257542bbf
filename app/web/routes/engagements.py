"""Engagements: the list, creating one, the dashboard with readiness, and scoping answers."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.domain.access import Action, Role, can
from app.domain.errors import AttestError
from app.models import Organisation, OrgKind
from app.services import approvals, engagements, readiness
from app.services.deadlines import engagement_deadlines
from app.web import auth
from app.web.deps import LibraryDep, SessionDep
from app.web.htmx import is_htmx, vary_on_htmx
from app.web.loaders import engagement_for
from app.web.routes.admin import require
from app.web.templating import render

router = APIRouter(
    prefix="/engagements", include_in_schema=False, dependencies=[Depends(auth.require_principal)]
)


@router.get("", name="engagements:index")
def index(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    rows = engagements.visible(db, principal.actor)
    names = {o.id: o.name for o in db.exec(select(Organisation))}
    context = {
        "engagements": rows,
        "names": names,
        "can_create": can(principal.actor, Action.CREATE_ENGAGEMENT),
    }
    return render(request, "engagements/index.html", context)


def new_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    form: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    orgs = list(db.exec(select(Organisation).order_by(col(Organisation.name))))
    buyers = [
        (o.id, o.name)
        for o in orgs
        if o.kind is OrgKind.BUYER
        and (principal.user.role is Role.ADMINISTRATOR or o.id == principal.user.organisation_id)
    ]
    context = {
        "form": form or {"catalogue_ids": [c.id for c in library.catalogues]},
        "errors": errors or {},
        "buyers": buyers,
        "suppliers": [(o.id, o.name) for o in orgs if o.kind is OrgKind.SUPPLIER],
        "catalogues": library.catalogues,
        "profiles": [("schedule-2-4", "Schedule 2.4 (IMS4)"), ("call-off-schedule-7", "Call Off Schedule 7")],
        "jurisdictions": [(j, j.replace("-", " ").title()) for j in engagements.JURISDICTIONS],
    }
    return render(request, "engagements/new.html", context, status_code=status)


@router.get("/new", name="engagements:new")
def new(request: Request, db: SessionDep, library: LibraryDep, principal: auth.CurrentPrincipal) -> Response:
    require(request, db, principal, Action.CREATE_ENGAGEMENT)
    return new_page(request, db, library, principal)


@router.post("/new", name="engagements:create")
async def create(
    request: Request, db: SessionDep, library: LibraryDep, principal: auth.CurrentPrincipal
) -> Response:
    require(request, db, principal, Action.CREATE_ENGAGEMENT)
    data = await request.form()
    form = {
        key: str(data.get(key, ""))
        for key in (
            "reference",
            "title",
            "buyer_org_id",
            "supplier_org_id",
            "effective_date",
            "workflow_profile",
            "jurisdiction",
        )
    }
    chosen = [str(v) for v in data.getlist("catalogue_ids")]
    try:
        engagement = engagements.create(db, library, principal.actor, catalogue_ids=chosen, **form)
    except AttestError as problem:
        db.rollback()
        errors = {k: str(v) for k, v in (problem.details or {"reference": problem.message}).items()}
        return new_page(request, db, library, principal, {**form, "catalogue_ids": chosen}, errors, 422)
    auth.record(
        request,
        db,
        principal,
        "engagement_created",
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    db.commit()
    return RedirectResponse(
        str(request.url_for("engagements:show", engagement_id=engagement.id)), status_code=303
    )


@router.get("/{engagement_id}", name="engagements:show")
def show(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement = engagement_for(request, db, principal, engagement_id)
    result = readiness.engagement_readiness(db, library, engagement, today=clock.today())
    names = {
        o.id: o.name
        for o in db.exec(
            select(Organisation).where(
                col(Organisation.id).in_([engagement.buyer_org_id, engagement.supplier_org_id])
            )
        )
    }
    context = {
        "engagement": engagement,
        "names": names,
        "readiness": result,
        "may": readiness.may_process(db, engagement, result, today=clock.today()),
        "catalogues": {c.id: c for c in library.catalogues},
        "is_supplier": can(principal.actor, Action.ANSWER_CONTROL, engagements.parties(engagement)),
        "deadlines": engagement_deadlines(db, engagement, today=clock.today()),
        "plan_state": approvals.case_row(db, engagement.id).state,
    }
    block = "readiness" if is_htmx(request) else None
    return vary_on_htmx(render(request, "engagements/show.html", context, block_name=block))


@router.get("/{engagement_id}/scoping", name="engagements:scoping")
def scoping(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement = engagement_for(request, db, principal, engagement_id)
    context = {
        "engagement": engagement,
        "questions": library.questions,
        "answers": engagements.scoping_answers(db, engagement.id),
        "can_answer": can(principal.actor, Action.ANSWER_CONTROL, engagements.parties(engagement)),
        "errors": {},
    }
    return render(request, "engagements/scoping.html", context)


@router.post("/{engagement_id}/scoping", name="engagements:save-scoping")
async def save_scoping(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement = engagement_for(request, db, principal, engagement_id, Action.ANSWER_CONTROL)
    data = await request.form()
    answers = {
        q.id: str(data.get(q.id)) == "yes" for q in library.questions if data.get(q.id) in ("yes", "no")
    }
    engagements.set_scoping(db, library, engagement, principal.actor, answers)
    auth.record(
        request,
        db,
        principal,
        "scoping_answered",
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={k: v for k, v in answers.items()},
    )
    db.commit()
    return RedirectResponse(
        str(request.url_for("engagements:show", engagement_id=engagement.id)), status_code=303
    )
