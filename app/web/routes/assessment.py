"""The supplier's daily work: the catalogue work view and the control page (answer, evidence, history)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query
from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.db import is_busy
from app.domain.access import Action, can
from app.domain.catalogue import Catalogue, Control
from app.domain.errors import AttestError, Conflict, Forbidden, InvalidInput, NotFound
from app.domain.readiness import Readiness
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import EngagementToAnswer, EngagementToUpload, EngagementToView
from app.models import ControlResponse, Engagement
from app.services import approvals, engagements, evidence, readiness, responses
from app.services.caller import Caller
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


FILTER_KEYS = ("status", "section", "owner", "needs_evidence", "q", "forms")
HISTORY_SHOWN = 20  # the control page lists the latest entries; "Show all" lists every one


@dataclass(frozen=True, slots=True)
class WorkFilters:
    """The work view's filters and search; the control page takes the same ones for its order."""

    status: str = ""
    section: str = ""
    owner: str = ""
    needs_evidence: str = ""
    q: str = ""
    forms: str = ""  # "1": every row carries its tick box and form from the server (no JavaScript)

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> WorkFilters:
        values = {k: v.strip()[:100] for k, v in pairs if k in FILTER_KEYS}
        if values.get("forms") != "1":
            values.pop("forms", None)
        return cls(**values)

    def query(self) -> str:
        """The filters as a query string (without '?'): empty when no filter is set."""
        return urlencode([(k, getattr(self, k)) for k in FILTER_KEYS if getattr(self, k)])

    def is_filtered(self) -> bool:
        """Whether the list is narrowed (`forms` changes how rows are drawn, not which are shown)."""
        return any(getattr(self, k) for k in FILTER_KEYS if k != "forms")

    def needs_scores(self) -> bool:
        return bool(self.status or self.needs_evidence)


@dataclass(frozen=True, slots=True)
class WorkRow:
    section_id: str
    control: Control
    answer: ControlResponse | None
    state: str
    lacks: bool


def matches(words: list[str], control: Control, answer: ControlResponse | None) -> bool:
    """Every search word appears in the control's id, title or requirement, or in the answer's
    implementation statement (case-insensitive)."""
    text = " ".join((control.id, control.title, control.requirement, answer.statement if answer else ""))
    haystack = text.casefold()
    return all(word in haystack for word in words)


def work_rows(
    db: SessionDep,
    catalogue: Catalogue,
    engagement: Engagement,
    filters: WorkFilters,
    result: Readiness | None,
) -> list[WorkRow]:
    """The work view's rows in catalogue order, after the filters and the search."""
    scores = {c.control_id: c for c in result.controls} if result else {}
    answers = responses.responses_by_control(db, engagement.id)
    linked = evidence.links_by_control(db, engagement.id)
    words = filters.q.casefold().split()
    rows = []
    for sec in catalogue.sections:
        if filters.section and sec.id != filters.section:
            continue
        for control in sec.controls:
            score = scores.get(control.id)
            answer = answers.get(control.id)
            state = score.status if score else (answer.status if answer else "unanswered")
            if filters.status and state != filters.status:
                continue
            if filters.owner and (answer is None or answer.owner_id != filters.owner):
                continue
            lacks = bool(control.evidence_required and not linked.get(control.id))
            if filters.needs_evidence == "yes" and (not lacks or state == "out_of_scope"):
                continue
            if words and not matches(words, control, answer):
                continue
            rows.append(WorkRow(sec.id, control, answer, state, lacks))
    return rows


def work_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    catalogue: Catalogue,
    filters: WorkFilters,
    *,
    row_errors: dict[str, str] | None = None,
    typed: dict[str, dict[str, str]] | None = None,
    errors: dict[str, str] | None = None,
    bulk: dict[str, str] | None = None,
    picked: set[str] | None = None,
    status_code: int = 200,
) -> Response:
    result = readiness.engagement_readiness(db, library, engagement, today=clock.today())
    rows = work_rows(db, catalogue, engagement, filters, result)
    saved = request.query_params.get("saved", "") if not (row_errors or errors) else ""
    answers = {row.control.id: row.answer for row in rows}
    stored = answers.get(saved)
    live = saved_message(saved, stored) if saved and stored else ""
    bulk_count = request.query_params.get("bulk", "")
    banner = f"Saved {bulk_count} controls." if bulk_count.isdigit() and not errors else ""
    context = {
        "engagement": engagement,
        "catalogue": catalogue,
        "rows": rows,
        "filters": filters,
        "back": filters.query(),
        "people": responses.supplier_people(db, engagement),
        "statuses": responses.STATUS_LABELS,
        "can_answer": can(principal.actor, Action.ANSWER_CONTROL, engagements.parties(engagement)),
        "readiness": result,
        "row_errors": row_errors or {},
        "typed": typed or {},
        "errors": errors or {},
        "bulk": bulk or {},
        "picked": picked or set(),
        "saved": saved,
        "live": live,
        "banner": banner,
        # The rows carry their tick boxes and forms from the server when asked (no JavaScript) and
        # when a refused bulk edit or row save is shown again (the ticks and choices are kept).
        "full_page": filters.forms == "1" or bool(errors or row_errors),
    }
    block = "work_rows" if targets(request, "work-rows") else None
    page = render(request, "assessment/work.html", context, status_code=status_code, block_name=block)
    return vary_on_htmx(page)


def saved_message(control_id: str, answer: ControlResponse) -> str:
    return f"Saved {control_id}: {responses.STATUS_LABELS.get(answer.status, answer.status).lower()}"


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
    q: str = Query("", max_length=100),
    forms: str = Query("", max_length=1),
) -> Response:
    catalogue = engagement_catalogue(db, library, engagement, catalogue_id)
    filters = WorkFilters(status, section, owner, needs_evidence, q.strip(), "1" if forms == "1" else "")
    return work_page(request, db, library, principal, engagement, catalogue, filters)


@router.post("/catalogues/{catalogue_id}/bulk", name="assessment:bulk")
async def bulk_save(
    request: Request,
    engagement: EngagementToAnswer,
    catalogue_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    """Set status, owner or target date on the ticked controls (`responses.bulk_update`, the
    same function as the API): all or nothing, then the work view again with a banner."""
    catalogue = engagement_catalogue(db, library, engagement, catalogue_id)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    selected = [str(v) for v in data.getlist("selected")]
    filters = WorkFilters.from_pairs(parse_qsl(form.get("back", "")))
    own = {c.id for c in catalogue.controls}
    wrong = [c for c in selected if c not in own]
    change = responses.BulkChange(
        status=form.get("bulk_status") or None,
        justification=form.get("bulk_justification", ""),
        owner_id=form.get("bulk_owner") or None,
        target_date=form.get("bulk_target_date") or None,
    )
    try:
        if wrong:
            raise InvalidInput(f"{wrong[0]} is not a control of this catalogue.")
        saved = responses.bulk_update(db, library, engagement, caller, selected, change)
    except InvalidInput as problem:
        db.rollback()
        errors = {"bulk-status": problem.message}
        if isinstance(problem.details, dict):
            # A refused control's message points at its tick box; anything else at the status.
            named = {f"pick-{k}": str(v) for k, v in problem.details.items() if k in selected}
            errors = named or errors
        return work_page(
            request,
            db,
            library,
            principal,
            engagement,
            catalogue,
            filters,
            errors=errors,
            bulk=form,
            picked=set(selected),
            status_code=422,
        )
    db.commit()
    url = request.url_for("assessment:work", engagement_id=engagement.id, catalogue_id=catalogue.id)
    query = filters.query()
    return RedirectResponse(f"{url}?{query + '&' if query else ''}bulk={len(saved)}", status_code=303)


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
    show_all = request.query_params.get("history") == "all"
    # One entry more than is shown tells whether "Show all" is needed, so the page stays bounded.
    history = responses.history(db, engagement.id, control_id, None if show_all else HISTORY_SHOWN + 1)
    filters = WorkFilters.from_pairs(list(request.query_params.items()))
    banner = BANNERS.get(request.query_params.get("saved", ""), "")
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
        "in_engagement": set(catalogue_list),
        "history": history[:HISTORY_SHOWN] if not show_all else history,
        "more_history": len(history) > HISTORY_SHOWN and not show_all,
        "neighbours": neighbours(db, library, engagement, control, filters),
        "back": filters.query(),
        "filtered": filters.is_filtered(),
        "banner": banner if not errors else "",
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


BANNERS = {
    "answer": "Your answer was saved. The readiness score now counts it.",
    "applied": "The answer and its evidence were applied to the chosen mapped controls.",
}


@dataclass(frozen=True, slots=True)
class Neighbours:
    previous: Control | None
    next: Control | None
    position: int  # 1-based place in the filtered list; 0 when the control is not in it
    total: int


def neighbours(
    db: SessionDep, library: LibraryDep, engagement: Engagement, control: Control, filters: WorkFilters
) -> Neighbours:
    """The controls before and after this one in the work view's list under the same filters."""
    catalogue = library.catalogue(control.catalogue_id)
    if catalogue is None:
        return Neighbours(None, None, 0, 0)
    result = (
        readiness.engagement_readiness(db, library, engagement, today=clock.today())
        if filters.needs_scores()
        else None
    )
    ids = [row.control for row in work_rows(db, catalogue, engagement, filters, result)]
    place = next((i for i, c in enumerate(ids) if c.id == control.id), None)
    if place is None:
        return Neighbours(ids[0] if ids else None, None, 0, len(ids))
    before = ids[place - 1] if place > 0 else None
    after = ids[place + 1] if place + 1 < len(ids) else None
    return Neighbours(before, after, place + 1, len(ids))


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
    if form.get("quick") == "1":
        return await quick_save(request, engagement, control_id, db, library, principal, caller, form)
    version = form.get("version", "")
    answer = responses.ResponseInput(
        status=form.get("status", ""),
        statement=form.get("statement", ""),
        justification=form.get("justification", ""),
        owner_id=form.get("owner_id", "") or None,
        planned_change=form.get("planned_change", ""),
        target_date=form.get("target_date") or None,
        expected_version=int(version) if version.isdigit() else None,
    )
    try:
        responses.save_response(db, library, engagement, caller, control_id, answer)
    except AttestError as problem:
        db.rollback()
        if is_htmx(request) or isinstance(problem, NotFound | Forbidden):
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
    back = WorkFilters.from_pairs(parse_qsl(form.get("back", ""))).query()
    query = f"{back}&saved=answer" if back else "saved=answer"
    return RedirectResponse(f"{url}?{query}#saved-banner", status_code=303)


async def quick_save(
    request: Request,
    engagement: Engagement,
    control_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    caller: Caller,
    form: dict[str, str],
) -> Response:
    """A save from a work view row: status (and, for not applicable, the justification); the
    rest of the answer stays as it is. htmx gets the row back with both scores and the live
    region's words; a refusal (409, 422) is the row with its error and a "Try again" button.
    Without JavaScript: back to the same filtered list at the row, or that list with the error."""
    control = responses.engagement_control(library, db, engagement, control_id)
    catalogue = engagement_catalogue(db, library, engagement, control.catalogue_id)
    filters = WorkFilters.from_pairs(parse_qsl(form.get("back", "")))
    existing = responses.responses_by_control(db, engagement.id).get(control_id)
    version = form.get("version", "")
    answer = responses.ResponseInput(
        status=form.get("status", ""),
        statement=existing.statement if existing else "",
        justification=form.get("justification", existing.justification if existing else ""),
        owner_id=existing.owner_id if existing else None,
        planned_change=existing.planned_change if existing else "",
        target_date=existing.target_on.isoformat() if existing and existing.target_on else None,
        expected_version=int(version) if version.isdigit() else None,
    )
    error, status_code = "", 200
    row: ControlResponse | None
    try:
        row = responses.save_response(db, library, engagement, caller, control_id, answer)
        db.commit()
    except (InvalidInput, Conflict) as problem:
        db.rollback()
        if isinstance(problem, Conflict):
            status_code = 409
            error = (
                f"Someone else saved {control_id} since you opened this page; their answer is now "
                "the one stored. Check your choice and select Try again to save it over theirs."
            )
        else:
            status_code = 422
            error = problem.message
        row = responses.responses_by_control(db, engagement.id).get(control_id)
    except OperationalError as problem:
        if not is_busy(problem):
            raise
        db.rollback()
        status_code = 503
        error = "Attest is busy saving other changes, so this was not saved. Select Try again."
        row = existing
    typed = None
    if error:
        # Keep what the person chose, with the stored version, so "Try again" is a real retry.
        typed = {
            "status": form.get("status", ""),
            "justification": form.get("justification", ""),
            "version": str(row.version if row else 0),
        }
    if not is_htmx(request):
        if error:
            return work_page(
                request,
                db,
                library,
                principal,
                engagement,
                catalogue,
                filters,
                row_errors={control_id: error},
                typed={control_id: typed or {}},
                status_code=status_code,
            )
        url = request.url_for("assessment:work", engagement_id=engagement.id, catalogue_id=catalogue.id)
        back = filters.query()
        query = f"{back}&saved={control_id}" if back else f"saved={control_id}"
        return RedirectResponse(f"{url}?{query}#row-{control_id}", status_code=303)
    result = readiness.engagement_readiness(db, library, engagement, today=clock.today())
    score = next((c for c in result.controls if c.control_id == control_id), None)
    linked = evidence.links_by_control(db, engagement.id)
    context = {
        "engagement": engagement,
        "catalogue": catalogue,
        "control": control,
        "answer": row,
        "state": score.status if score else (row.status if row else "unanswered"),
        "lacks": bool(control.evidence_required and not linked.get(control_id)),
        "statuses": responses.STATUS_LABELS,
        "back": filters.query(),
        "error": error,
        "typed": typed,
        "readiness": result,
        "live": f"Could not save {control_id}: {error}"
        if error
        else saved_message(control_id, row)
        if row
        else "",
    }
    response = render(request, "assessment/_row_saved.html", context, status_code=status_code)
    response.headers["X-Attest-Row"] = control_id  # workview.js swaps a refused row in too
    return response


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
    db.commit()
    url = request.url_for("assessment:control", engagement_id=engagement.id, control_id=control_id)
    back = WorkFilters.from_pairs(parse_qsl(str(data.get("back", "")))).query()
    query = f"{back}&saved=applied" if back else "saved=applied"
    return RedirectResponse(f"{url}?{query}#saved-banner", status_code=303)


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
