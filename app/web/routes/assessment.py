"""The supplier's daily work: the catalogue work view and the control page (answer, evidence, history)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.domain.access import Action, can
from app.domain.catalogue import Catalogue
from app.domain.errors import AttestError, Conflict, Forbidden, InvalidInput, NotFound
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import EngagementToAnswer, EngagementToUpload, EngagementToView
from app.models import Engagement
from app.services import approvals, engagements, evidence, readiness, responses
from app.web.htmx import is_htmx, targets, trigger, vary_on_htmx
from app.web.templating import render

router = APIRouter(
    prefix="/engagements/{engagement_id}",
    include_in_schema=False,
    dependencies=[Depends(auth.require_principal)],
)


def back_to_control(request: Request, db: SessionDep, engagement: Engagement, control_id: str) -> Response:
    """Commit the change once, and send the browser back to the control page."""
    db.commit()
    url = request.url_for("assessment:control", engagement_id=engagement.id, control_id=control_id)
    return RedirectResponse(str(url), status_code=303)


def engagement_catalogue(
    db: SessionDep, library: LibraryDep, engagement: Engagement, catalogue_id: str
) -> Catalogue:
    catalogue = library.catalogue(catalogue_id)
    if catalogue is None or catalogue_id not in engagements.catalogue_ids(db, engagement.id):
        raise NotFound("This engagement does not use that catalogue.")
    return catalogue


@router.get("/catalogues/{catalogue_id}", name="assessment:work")
def work_view(
    request: Request,
    engagement: EngagementToView,
    catalogue_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    status: str = Query("", max_length=20),
    section: str = Query("", max_length=40),
    owner: str = Query("", max_length=40),
    needs_evidence: str = Query("", max_length=3),
) -> Response:
    catalogue = engagement_catalogue(db, library, engagement, catalogue_id)
    result = readiness.engagement_readiness(db, library, engagement, today=clock.today())
    scores = {c.control_id: c for c in result.controls}
    answers = responses.responses_by_control(db, engagement.id)
    linked = evidence.links_by_control(db, engagement.id)
    rows = []
    for sec in catalogue.sections:
        if section and sec.id != section:
            continue
        for control in sec.controls:
            score = scores.get(control.id)
            answer = answers.get(control.id)
            state = score.status if score else "unanswered"
            if status and state != status:
                continue
            if owner and (answer is None or answer.owner_id != owner):
                continue
            lacks = control.evidence_required and not linked.get(control.id)
            if needs_evidence == "yes" and (not lacks or state == "out_of_scope"):
                continue
            rows.append((sec, control, answer, score, lacks))
    people = responses.supplier_people(db, engagement)
    context = {
        "engagement": engagement,
        "catalogue": catalogue,
        "rows": rows,
        "filters": {"status": status, "section": section, "owner": owner, "needs_evidence": needs_evidence},
        "people": people,
        "statuses": responses.STATUS_LABELS,
        "can_answer": can(principal.actor, Action.ANSWER_CONTROL, engagements.parties(engagement)),
        "readiness": result,
    }
    block = "work_rows" if targets(request, "work-rows") else None
    return vary_on_htmx(render(request, "assessment/work.html", context, block_name=block))


def control_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    control_id: str,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    control = responses.engagement_control(library, db, engagement, control_id)
    catalogue_list = engagements.catalogue_ids(db, engagement.id)
    answer = responses.responses_by_control(db, engagement.id).get(control_id)
    applicable, scope_reason = engagements.applicability(
        control, engagements.scoping_answers(db, engagement.id), library
    )
    is_supplier = can(principal.actor, Action.ANSWER_CONTROL, engagements.parties(engagement))
    linked = evidence.links_by_control(db, engagement.id).get(control_id, [])
    library_items = evidence.library_items(db, engagement.supplier_org_id) if is_supplier else []
    context = {
        "engagement": engagement,
        "catalogue": library.catalogue(control.catalogue_id),
        "control": control,
        "answer": answer,
        "applicable": applicable,
        "scope_reason": scope_reason,
        "linked": linked,
        "linkable": [e for e, _ in library_items if e.id not in {x.id for x in linked}],
        "mapped": responses.mapped_in_engagement(library, catalogue_list, control_id),
        "links": library.links.get(control_id, ()),
        "history": responses.history(db, engagement.id, control_id),
        "people": responses.supplier_people(db, engagement),
        "statuses": responses.STATUS_LABELS,
        "is_supplier": is_supplier,
        "errors": errors or {},
        "form": form,
        "kinds": evidence.KINDS,
        "markings": evidence.MARKINGS,
        "json": json,
        "rejection": rejection_for(db, engagement.id, control_id),
    }
    return render(request, "assessment/control.html", context, status_code=status_code)


def rejection_for(db: SessionDep, engagement_id: str, control_id: str) -> tuple[str, str] | None:
    """The open rejection notice's reason for this control, as (notice number, reason)."""
    notice = approvals.open_rejection(db, engagement_id)
    if notice is None:
        return None
    reason = approvals.control_reasons_of(notice).get(control_id)
    return (notice.number, reason) if reason else None


@router.get("/controls/{control_id}", name="assessment:control")
def control(
    request: Request,
    engagement: EngagementToView,
    control_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    return control_page(request, db, library, principal, engagement, control_id)


@router.post("/controls/{control_id}/response", name="assessment:save-response")
async def save_response(
    request: Request,
    engagement: EngagementToAnswer,
    control_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    existing = responses.responses_by_control(db, engagement.id).get(control_id)
    quick = form.get("quick") == "1"  # the work view's status-only control keeps everything else
    version = form.get("version", "")
    answer = responses.ResponseInput(
        status=form.get("status", ""),
        statement=form.get("statement", existing.statement if quick and existing else ""),
        justification=form.get("justification", existing.justification if quick and existing else ""),
        owner_id=form.get("owner_id", existing.owner_id if quick and existing else "") or None,
        planned_change=form.get("planned_change", existing.planned_change if quick and existing else ""),
        target_date=form.get("target_date")
        or (existing.target_on.isoformat() if quick and existing and existing.target_on else None),
        expected_version=int(version) if version.isdigit() else None,
    )
    try:
        responses.save_response(db, library, engagement, caller, control_id, answer)
    except AttestError as problem:
        db.rollback()
        if quick or is_htmx(request) or isinstance(problem, NotFound | Forbidden):
            raise  # refusals go to the one handler, which answers (and audits) them
        # A lost race (409) re-renders the form with the person's text and the message, like a 422.
        status = 409 if isinstance(problem, Conflict) else 422
        details = problem.details if isinstance(problem, InvalidInput) else None
        errors = {k: str(v) for k, v in (details or {"status": problem.message}).items()}
        return control_page(request, db, library, principal, engagement, control_id, errors, form, status)
    db.commit()
    if is_htmx(request):
        response = Response(status_code=204)
        return trigger(response, "readiness-changed")
    url = request.url_for("assessment:control", engagement_id=engagement.id, control_id=control_id)
    return RedirectResponse(str(url) + "#saved", status_code=303)


@router.post("/controls/{control_id}/apply-mapped", name="assessment:apply-mapped")
async def apply_mapped(
    request: Request,
    engagement: EngagementToAnswer,
    control_id: str,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    data = await request.form()
    targets = [str(v) for v in data.getlist("targets")]
    responses.apply_to_mapped(db, library, engagement, caller, control_id, targets)
    return back_to_control(request, db, engagement, control_id)


@router.post("/controls/{control_id}/links", name="assessment:link-evidence")
async def link_evidence(
    request: Request,
    engagement: EngagementToUpload,
    control_id: str,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    data = await request.form()
    evidence_id = str(data.get("evidence_id", ""))
    evidence.link(db, library, engagement, caller, control_id, evidence_id)
    return trigger(back_to_control(request, db, engagement, control_id), "readiness-changed")


@router.post("/controls/{control_id}/links/{evidence_id}/remove", name="assessment:unlink-evidence")
def unlink_evidence(
    request: Request,
    engagement: EngagementToUpload,
    control_id: str,
    evidence_id: str,
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> Response:
    evidence.unlink(db, engagement, caller, control_id, evidence_id)
    return back_to_control(request, db, engagement, control_id)
