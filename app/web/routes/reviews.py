"""The buyer advisors' pages: the review queue with their office closure days, one submission
under review (comments and the decision), the statement, and the public verification page."""

from __future__ import annotations

from dataclasses import fields

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app import clock
from app.domain.catalogue import Library
from app.domain.errors import InvalidInput
from app.http import auth, statements
from app.http.deps import LibraryDep, SessionDep, writer
from app.http.loaders import SubmissionToDecide, SubmissionToView
from app.http.statements import statement_document
from app.models import Engagement, Submission, utcnow
from app.services import approvals, calendars, verification
from app.services.caller import Caller
from app.services.reviews import queue_view, review_view
from app.web import forms
from app.web.htmx import is_htmx
from app.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/reviews", name="approvals:queue")
def queue(request: Request, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    view = queue_view(db, caller, today=clock.today())
    context = {"items": view.items, "closures": view.closures, "today": clock.today()}
    return render(request, "reviews/queue.html", context)


def entered(form: FormData) -> dict[str, str]:
    """What the advisor typed or ticked, to show again (the CSRF token is issued afresh)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def review_page(
    request: Request,
    db: SessionDep,
    caller: Caller,
    submission: Submission,
    engagement: Engagement,
    *,
    library: Library | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The review page; after a refused form, `values` puts back every reason, comment, condition
    and tick the advisor had entered, so nothing typed is lost."""
    view = review_view(db, engagement, submission, caller, today=clock.today(), library=library)
    context = {
        **{f.name: getattr(view, f.name) for f in fields(view)},
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "reviews/review.html", context, status_code=status_code)


@router.get("/submissions/{submission_id}", name="approvals:review")
def review(
    request: Request,
    loaded: SubmissionToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    submission, engagement = loaded
    return review_page(request, db, caller, submission, engagement, library=library)


@router.post("/submissions/{submission_id}/comments", name="approvals:comment")
async def comment(
    request: Request,
    loaded: SubmissionToDecide,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """Save one comment on one control as the advisor goes (the decision can come later). With
    htmx only that control's comment box comes back, so reasons typed elsewhere on the page stay;
    without, the page reloads at the control."""
    submission, engagement = loaded
    form = await request.form()
    control_id = forms.text(form, "control_id")
    body = forms.text(form, "body")
    try:
        approvals.add_comment(db, engagement, submission, caller, control_id=control_id, body=body)
    except InvalidInput as error:
        db.rollback()
        message = next(iter((error.details or {}).values()), error.message)
        if is_htmx(request) and control_id in known(submission):
            return comment_box(request, db, submission, control_id, error=str(message), body=body, status=422)
        return review_page(
            request,
            db,
            caller,
            submission,
            engagement,
            library=library,
            errors={f"comment-body-{control_id}": str(message)},
            values=entered(form),
            status_code=422,
        )
    db.commit()
    if is_htmx(request):
        return comment_box(request, db, submission, control_id, saved=True)
    url = str(request.url_for("approvals:review", submission_id=submission.id)) + f"#c-{control_id}"
    return RedirectResponse(url, status_code=303)


def known(submission: Submission) -> set[str]:
    """The controls of the submission (a comment box exists on the page for each)."""
    return {r["control_id"] for r in approvals.data_of(submission)["responses"]}


def comment_box(
    request: Request,
    db: SessionDep,
    submission: Submission,
    control_id: str,
    *,
    error: str = "",
    body: str = "",
    saved: bool = False,
    status: int = 200,
) -> Response:
    context = {
        "submission_id": submission.id,
        "cid": control_id,
        "comments": approvals.comments(db, submission.id).get(control_id, []),
        "can_comment": True,
        "error": error,
        "body": body,
        "saved": saved,
    }
    return render(request, "reviews/_comment_box.html", context, status_code=status)


@router.post("/submissions/{submission_id}/decision", name="approvals:decide")
async def decide(
    request: Request,
    loaded: SubmissionToDecide,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    submission, engagement = loaded
    form = await request.form()
    try:
        approvals.decide(
            db,
            engagement,
            submission,
            caller,
            approve=forms.text(form, "decision") == "approve",
            reasons=forms.text(form, "reasons"),
            control_reasons=forms.prefixed(form, "reason_"),
            conditions=forms.text(form, "conditions"),
            residual_risks_accepted=forms.ticked(form, "residual_risks_accepted"),
            advisor_role=forms.text(form, "advisor_role") or "Security advisor",
            acknowledge_outstanding=forms.ticked(form, "acknowledge_outstanding"),
            library=library,
            today=clock.today(),
        )
    except InvalidInput as error:
        db.rollback()
        # The page lists the open blockers itself; the error summary takes the messages only.
        errors = {k: v for k, v in (error.details or {}).items() if isinstance(v, str)}
        return review_page(
            request,
            db,
            caller,
            submission,
            engagement,
            library=library,
            errors=errors,
            values=entered(form),
            status_code=422,
        )
    db.commit()
    statements.queue_render(request, submission.id)
    return RedirectResponse(
        str(request.url_for("approvals:review", submission_id=submission.id)), status_code=303
    )


# The statement is a stand-alone document (one template for the page and the PDF) whose styles
# are inline: the site-wide policy (style-src 'self') blocked them and reported a violation on
# every view. This policy allows its inline styles and nothing else: no script, no other origin.
STATEMENT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@router.get("/submissions/{submission_id}/statement", name="approvals:statement")
def statement(
    request: Request, loaded: SubmissionToView, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    submission, engagement = loaded
    html, _filename = statement_document(request, db, caller, submission, engagement)
    return HTMLResponse(html, headers={"Content-Security-Policy": STATEMENT_POLICY})


@router.get("/verify", name="approvals:verify")
def verify(request: Request, db: SessionDep, number: str = "", sha256: str = "") -> Response:
    """Public: was a statement with this number issued over a plan with this hash, and does it
    still stand (in force, superseded or withdrawn)? 422 explains malformed input, 404 says it
    was not issued, 429 stops guessing (app.services.verification)."""
    context: dict[str, object] = {
        "number": number[:64],
        "sha256": sha256[:64],
        "result": None,
        "errors": {},
    }
    if not (number or sha256):
        return render(request, "reviews/verify.html", context)
    with writer(request, db) as counted:  # a failed check is counted for the throttle
        result = verification.check(
            counted, number, sha256, address=auth.client_address(request), now=utcnow()
        )
    context.update(result=result, errors=result.problems or {})
    status = 429 if result.throttled else 422 if result.problems else 404 if result.not_found else 200
    return render(request, "reviews/verify.html", context, status_code=status)


@router.post("/reviews/closure-days", name="approvals:add-closure-day")
async def add_closure_day(request: Request, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    """Buyer advisors: a day their organisation is closed stops counting as a Working Day."""
    form = await request.form()
    calendars.add_closure_day(db, caller, day=forms.text(form, "day"), reason=forms.text(form, "reason"))
    db.commit()
    return RedirectResponse(str(request.url_for("approvals:queue")) + "#closures", status_code=303)


@router.post("/reviews/closure-days/{closure_id}/remove", name="approvals:remove-closure-day")
async def remove_closure_day(
    request: Request, closure_id: str, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    """Buyer advisors: take back a closure day (it counts as a Working Day again)."""
    calendars.remove_closure_day(db, caller, closure_id)
    db.commit()
    return RedirectResponse(str(request.url_for("approvals:queue")) + "#closures", status_code=303)
