"""Sign in (password, then a second factor), sign out, and follow a mailed link: an invitation
or an account reset (a new password, then a new key confirmed by a code)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.adapters.crypto import totp_uri
from app.config import Settings
from app.domain.errors import InvalidInput
from app.http import auth
from app.http.deps import MailerDep, SessionDep, SettingsDep
from app.models import Invitation, Organisation, User, utcnow
from app.services import account_notices, accounts, audit, sessions
from app.web.qr import qr_svg
from app.web.templating import render

router = APIRouter(include_in_schema=False)
GENERIC_FAILURE = "The email address or password is not right."
THROTTLED = sessions.THROTTLED


def safe_next(target: str | None) -> str:
    """Only same-site paths, so a sign-in link cannot send people elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def address(request: Request) -> str:
    return auth.client_address(request)


def refuse_sign_in(request: Request, db: Session, user_id: str | None, **why: str) -> None:
    """Audit a refused sign-in step (committed by the caller with the failure count)."""
    sessions.refuse_sign_in(db, auth.keys(request).audit, auth.who(request), user_id, **why)


def begin_session(
    request: Request, db: Session, settings: Settings, user: User, *, mfa_passed: bool, now: datetime
) -> str:
    """A new session for this browser (a fresh id at every sign-in step); returns the cookie value."""
    return sessions.start_session(
        db,
        user,
        mfa_passed=mfa_passed,
        now=now,
        timeouts=auth.timeouts(settings),
        address=address(request),
        user_agent=request.headers.get("user-agent", ""),
    )


@router.get("/sign-in", name="auth:sign-in")
def sign_in_form(request: Request, next: str = "/") -> Response:
    return render(request, "auth/sign_in.html", {"next": safe_next(next), "errors": {}, "email": ""})


@router.post("/sign-in", name="auth:sign-in-submit")
def sign_in(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    now = utcnow()
    context = {"next": safe_next(next), "email": email}
    if sessions.throttle_state(db, email=email, address=address(request), now=now).blocked:
        refuse_sign_in(request, db, None, reason="throttled")
        db.commit()
        return render(
            request,
            "auth/sign_in.html",
            {**context, "errors": {"email": THROTTLED}},
            status_code=429,
        )
    user = sessions.check_password(db, email=email, password=password)
    if user is None or user.disabled_at is not None:
        sessions.record_failure(db, email=email, address=address(request), now=now)
        refuse_sign_in(request, db, None, step="password")
        db.commit()
        return render(
            request,
            "auth/sign_in.html",
            {**context, "errors": {"email": GENERIC_FAILURE}},
            status_code=422,
        )
    if user.mfa_enrolled_at is None:
        message = "Finish setting up your account from your invitation link first."
        return render(
            request, "auth/sign_in.html", {**context, "errors": {"email": message}}, status_code=422
        )
    token = begin_session(request, db, settings, user, mfa_passed=False, now=now)
    db.commit()
    response = RedirectResponse(
        str(request.url_for("auth:verify").include_query_params(next=safe_next(next))),
        status_code=303,
    )
    auth.set_session_cookie(response, settings, token)
    return response


def pending_user(request: Request, db: SessionDep, settings: SettingsDep) -> tuple[str, User] | None:
    cookie = request.cookies.get(auth.session_cookie_name(settings))
    if not cookie:
        return None
    view = sessions.find_session(db, cookie, now=utcnow(), timeouts=auth.timeouts(settings))
    if view is None or view.mfa_passed:
        return None
    return view.session_id, view.user


@router.get("/sign-in/verify", name="auth:verify")
def verify_form(request: Request, db: SessionDep, settings: SettingsDep, next: str = "/") -> Response:
    if pending_user(request, db, settings) is None:
        return RedirectResponse(str(request.url_for("auth:sign-in")), status_code=303)
    return render(request, "auth/verify.html", {"next": safe_next(next), "errors": {}})


@router.post("/sign-in/verify", name="auth:verify-submit")
def verify(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    now = utcnow()
    pending = pending_user(request, db, settings)
    if pending is None:
        return RedirectResponse(str(request.url_for("auth:sign-in")), status_code=303)
    session_id, user = pending
    if sessions.throttle_state(db, email=user.email, address=address(request), now=now).blocked:
        sessions.end_session(db, session_id, now=now)
        refuse_sign_in(request, db, user.id, reason="throttled")
        db.commit()
        return render(
            request,
            "auth/sign_in.html",
            {"next": "/", "email": "", "errors": {"email": THROTTLED}},
            status_code=429,
        )
    keys = auth.keys(request)
    method = accounts.check_second_factor(db, keys, user, code, now=now)
    if method is None:
        sessions.record_failure(db, email=user.email, address=address(request), now=now)
        refuse_sign_in(request, db, user.id, step="second_factor")
        db.commit()
        errors = {"code": "That code is not right, or was already used. Enter the newest code."}
        return render(
            request,
            "auth/verify.html",
            {"next": safe_next(next), "errors": errors},
            status_code=422,
        )
    sessions.end_session(db, session_id, now=now)
    token = begin_session(request, db, settings, user, mfa_passed=True, now=now)
    sessions.forget_failures(db, email=user.email, now=now)
    principal = auth.Principal(user, db.get_one(Organisation, user.organisation_id), None)
    sessions.signed_in(db, auth.caller_of(request, principal), method=method)
    db.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    auth.set_session_cookie(response, settings, token)
    return response


@router.post("/sign-out", name="auth:sign-out")
def sign_out(
    request: Request, db: SessionDep, settings: SettingsDep, principal: auth.OptionalPrincipal
) -> Response:
    if principal is not None and principal.session_id:
        sessions.sign_out(db, auth.caller_of(request, principal), principal.session_id, now=utcnow())
        db.commit()
    response = RedirectResponse(str(request.url_for("auth:sign-in")), status_code=303)
    auth.set_session_cookie(response, settings, None)
    return response


def invitation_who(request: Request, db: Session, user: User) -> audit.Who:
    return auth.who(request, auth.Principal(user, db.get_one(Organisation, user.organisation_id), None))


def password_page(
    request: Request,
    token: str,
    invitation_row: Invitation,
    user: User,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    context = {"token": token, "user": user, "reset": invitation_row.purpose == "reset", "errors": errors}
    return render(request, "auth/invitation.html", context, status_code=status)


@router.get("/invitations/{token}", name="auth:invitation")
def invitation(request: Request, token: str, db: SessionDep) -> Response:
    """Step 1 (choose a password) until this link has one; then step 2 with the key chosen for
    this link. The account's current key is never shown."""
    invitation_row, user = accounts.open_invitation(db, token, utcnow())
    secret = accounts.pending_secret(auth.keys(request), invitation_row)
    if secret is None:
        return password_page(request, token, invitation_row, user, {})
    return enrolment_page(request, token, invitation_row, user, secret, {})


@router.post("/invitations/{token}", name="auth:invitation-password")
def invitation_password(
    request: Request,
    token: str,
    db: SessionDep,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    invitation_row, user = accounts.open_invitation(db, token, utcnow())
    try:
        accounts.choose_password(
            db, auth.keys(request), invitation_row, user, password=password, confirm=confirm
        )
    except InvalidInput as problem:
        field = str((problem.details or {}).get("field", "password"))
        return password_page(request, token, invitation_row, user, {field: problem.message}, 422)
    db.commit()
    return RedirectResponse(str(request.url_for("auth:invitation", token=token)), status_code=303)


def enrolment_page(
    request: Request,
    token: str,
    invitation_row: Invitation,
    user: User,
    secret: str,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    context = {
        "token": token,
        "user": user,
        "reset": invitation_row.purpose == "reset",
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr": qr_svg(totp_uri(secret, user.email)),
        "errors": errors,
    }
    response = render(request, "auth/enrol.html", context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/invitations/{token}/mfa", name="auth:invitation-mfa")
def invitation_mfa(
    request: Request,
    token: str,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    now = utcnow()
    keys = auth.keys(request)
    invitation_row, user = accounts.open_invitation(db, token, now)
    secret = accounts.pending_secret(keys, invitation_row)
    if secret is None:
        return RedirectResponse(str(request.url_for("auth:invitation", token=token)), status_code=303)
    try:
        done = accounts.complete_invitation(
            db, keys, settings, invitation_row, user, code, who=invitation_who(request, db, user), now=now
        )
    except InvalidInput as problem:
        return enrolment_page(request, token, invitation_row, user, secret, {"code": problem.message}, 422)
    session_token = begin_session(request, db, settings, user, mfa_passed=True, now=now)
    db.commit()
    account_notices.deliver(mailer, done.mails)
    response = render(
        request,
        "auth/recovery_codes.html",
        {"codes": done.codes, "first_time": True, "reset": done.purpose == "reset"},
    )
    response.headers["Cache-Control"] = "no-store"
    auth.set_session_cookie(response, settings, session_token)
    return response
