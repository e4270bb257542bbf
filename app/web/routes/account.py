"""The signed-in user's own account: password, sessions, personal access tokens, recovery codes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.domain.errors import InvalidInput, NotFound
from app.models import utcnow
from app.services import accounts, sessions
from app.web import auth
from app.web.deps import SessionDep, SettingsDep
from app.web.routes.auth import THROTTLED, address
from app.web.templating import render

router = APIRouter(prefix="/account", include_in_schema=False, dependencies=[Depends(auth.require_principal)])


def account_page(
    request: Request,
    db: SessionDep,
    principal: auth.Principal,
    *,
    new_token: str | None = None,
    errors: dict[str, str] | None = None,
    password_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    context = {
        "principal": principal,
        "password_form": password_form or {},
        "password_changed": request.query_params.get("changed") == "password",
        "sessions": sessions.live_sessions(db, principal.user.id, now=now),
        "tokens": sessions.user_tokens(db, principal.user.id),
        "new_token": new_token,
        "errors": errors or {},
        "now": now,
    }
    response = render(request, "account/index.html", context, status_code=status)
    if new_token:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("", name="account:index")
def index(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    return account_page(request, db, principal)


@router.post("/password", name="account:change-password")
def change_password(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    confirm_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Current password and a current code, the new one twice; the other sessions end."""
    now, user = utcnow(), principal.user
    if sessions.throttle_state(db, email=user.email, address=address(request), now=now).blocked:
        auth.record(
            request,
            db,
            principal,
            "password_changed",
            outcome="denied",
            object_type="user",
            object_id=user.id,
            details={"reason": "throttled"},
        )
        db.commit()
        return account_page(request, db, principal, errors={"current_password": THROTTLED}, status=429)
    try:
        accounts.change_password(
            db,
            auth.keys(request),
            user,
            current_password=current_password,
            code=code,
            new_password=new_password,
            confirm=confirm_password,
            keep_session_id=principal.session_id,
            who=auth.who(request, principal),
            now=now,
        )
    except accounts.WrongCredentials as problem:
        sessions.record_failure(db, email=user.email, address=address(request), now=now)
        db.commit()  # the refusal's audit event and the failure count
        field = str((problem.details or {}).get("field", "current_password"))
        return account_page(request, db, principal, errors={field: problem.message}, status=422)
    except InvalidInput as problem:
        field = str((problem.details or {}).get("field", "new_password"))
        # No credential was spent: keep the code so only the passwords need typing again.
        return account_page(
            request, db, principal, errors={field: problem.message}, password_form={"code": code}, status=422
        )
    db.commit()
    return RedirectResponse(
        str(request.url_for("account:index").include_query_params(changed="password")), status_code=303
    )


@router.post("/tokens", name="account:create-token")
def create_token(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    name: Annotated[str, Form(max_length=200)] = "",
    expires_days: Annotated[str, Form(max_length=10)] = "90",
) -> Response:
    try:
        days = int(expires_days) if expires_days.strip() else None
        row, token = sessions.create_token(db, principal.user, name=name, expires_days=days, now=utcnow())
    except ValueError:
        return account_page(
            request, db, principal, errors={"expires_days": "Enter a number of days."}, status=422
        )
    except InvalidInput as problem:
        field = str((problem.details or {}).get("field", "name"))
        return account_page(request, db, principal, errors={field: problem.message}, status=422)
    auth.record(request, db, principal, "token_created", object_type="api_token", object_id=row.id)
    db.commit()
    return account_page(request, db, principal, new_token=token)


@router.post("/tokens/{token_id}/revoke", name="account:revoke-token")
def revoke_token(
    request: Request, token_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    try:
        sessions.revoke_token(db, principal.user.id, token_id, now=utcnow())
    except NotFound:
        auth.record_denied(
            request, db, principal, "token_revoked", object_type="api_token", object_id=token_id
        )
        raise
    auth.record(request, db, principal, "token_revoked", object_type="api_token", object_id=token_id)
    db.commit()
    return RedirectResponse(str(request.url_for("account:index")), status_code=303)


@router.post("/sessions/{session_id}/revoke", name="account:revoke-session")
def revoke_session(
    request: Request, session_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    try:
        sessions.own_session(db, principal.user.id, session_id)
    except NotFound:
        auth.record_denied(
            request, db, principal, "session_ended", object_type="session", object_id=session_id
        )
        raise
    sessions.end_session(db, session_id, now=utcnow())
    auth.record(request, db, principal, "session_ended", object_type="session", object_id=session_id)
    db.commit()
    return RedirectResponse(str(request.url_for("account:index")), status_code=303)


@router.post("/sign-out-everywhere", name="account:sign-out-everywhere")
def sign_out_everywhere(
    request: Request, db: SessionDep, settings: SettingsDep, principal: auth.CurrentPrincipal
) -> Response:
    count = accounts.end_all_sessions(db, principal.user.id, now=utcnow())
    auth.record(
        request,
        db,
        principal,
        "signed_out_everywhere",
        object_type="user",
        object_id=principal.user.id,
        details={"sessions": count},
    )
    db.commit()
    response = RedirectResponse(str(request.url_for("auth:sign-in")), status_code=303)
    auth.set_session_cookie(response, settings, None)
    return response


@router.post("/recovery-codes", name="account:recovery-codes")
def new_recovery_codes(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    codes = accounts.replace_recovery_codes(db, auth.keys(request), principal.user)
    auth.record(
        request,
        db,
        principal,
        "recovery_codes_replaced",
        object_type="user",
        object_id=principal.user.id,
    )
    db.commit()
    response = render(request, "auth/recovery_codes.html", {"codes": codes, "first_time": False})
    response.headers["Cache-Control"] = "no-store"
    return response
