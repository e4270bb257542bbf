"""The signed-in user's own account: sessions, personal access tokens, recovery codes."""

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
from app.web.templating import render

router = APIRouter(prefix="/account", include_in_schema=False, dependencies=[Depends(auth.require_principal)])


def account_page(
    request: Request,
    db: SessionDep,
    principal: auth.Principal,
    *,
    new_token: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    context = {
        "principal": principal,
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
