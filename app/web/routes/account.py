"""The signed-in user's own account: password, sessions, personal access tokens, recovery codes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.domain.errors import InvalidInput
from app.http import auth
from app.http.deps import SessionDep, SettingsDep
from app.models import utcnow
from app.services import accounts, sessions
from app.web.templating import render

router = APIRouter(prefix="/account", include_in_schema=False, dependencies=[Depends(auth.require_principal)])
# What the page confirms after a redirect (`?changed=`): a closed set, never the query's own text.
CHANGED = {
    "password": "Your password was changed. Every other place you were signed in is signed out.",
    "token-revoked": "The token was revoked: scripts using it can no longer sign in.",
    "session-ended": "That session was ended.",
}


def account_page(
    request: Request,
    db: SessionDep,
    principal: auth.Principal,
    *,
    new_token: str | None = None,
    errors: dict[str, str] | None = None,
    password_form: dict[str, str] | None = None,
    token_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The account page; after a refusal, the forms hold what was typed (never a password)."""
    now = utcnow()
    context = {
        "principal": principal,
        "password_form": password_form or {},
        "token_form": token_form or {},
        "changed": None if errors else CHANGED.get(request.query_params.get("changed", "")),
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
    caller: auth.CurrentCaller,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    confirm_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Current password and a current code, the new one twice; the other sessions end."""
    try:
        accounts.change_password(
            db,
            auth.keys(request),
            caller,
            principal.user,
            current_password=current_password,
            code=code,
            new_password=new_password,
            confirm=confirm_password,
            keep_session_id=principal.session_id,
            now=utcnow(),
        )
    except (accounts.Throttled, accounts.WrongCredentials) as problem:
        db.commit()  # the refusal's audit event (and the failure count)
        field = str((problem.details or {}).get("field", "current_password"))
        status = 429 if isinstance(problem, accounts.Throttled) else 422
        return account_page(request, db, principal, errors={field: problem.message}, status=status)
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
    caller: auth.CurrentCaller,
    name: Annotated[str, Form(max_length=200)] = "",
    expires_days: Annotated[str, Form(max_length=10)] = "90",
) -> Response:
    typed = {"name": name, "expires_days": expires_days}
    try:
        days = int(expires_days) if expires_days.strip() else None
    except ValueError:
        errors = {"expires_days": "Enter a number of days."}
        return account_page(request, db, principal, errors=errors, token_form=typed, status=422)
    try:
        _row, token = sessions.add_token(
            db, caller, principal.user, name=name, expires_days=days, now=utcnow()
        )
    except InvalidInput as problem:
        field = str((problem.details or {}).get("field", "name"))
        errors = {field: problem.message}
        return account_page(request, db, principal, errors=errors, token_form=typed, status=422)
    db.commit()
    return account_page(request, db, principal, new_token=token)


@router.post("/tokens/{token_id}/revoke", name="account:revoke-token")
def revoke_token(request: Request, token_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    sessions.revoke_own_token(db, caller, token_id, now=utcnow())
    db.commit()
    url = request.url_for("account:index").include_query_params(changed="token-revoked")
    return RedirectResponse(str(url), status_code=303)


@router.post("/sessions/{session_id}/revoke", name="account:revoke-session")
def revoke_session(request: Request, session_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    sessions.end_own_session(db, caller, session_id, now=utcnow())
    db.commit()
    url = request.url_for("account:index").include_query_params(changed="session-ended")
    return RedirectResponse(str(url), status_code=303)


@router.post("/sign-out-everywhere", name="account:sign-out-everywhere")
def sign_out_everywhere(
    request: Request, db: SessionDep, settings: SettingsDep, caller: auth.CurrentCaller
) -> Response:
    accounts.sign_out_everywhere(db, caller, now=utcnow())
    db.commit()
    response = RedirectResponse(str(request.url_for("auth:sign-in")), status_code=303)
    auth.set_session_cookie(response, settings, None)
    return response


@router.post("/recovery-codes", name="account:recovery-codes")
def new_recovery_codes(
    request: Request, db: SessionDep, principal: auth.CurrentPrincipal, caller: auth.CurrentCaller
) -> Response:
    codes = accounts.renew_recovery_codes(db, auth.keys(request), caller, principal.user)
    db.commit()
    response = render(request, "auth/recovery_codes.html", {"codes": codes, "first_time": False})
    response.headers["Cache-Control"] = "no-store"
    return response
