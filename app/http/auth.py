"""Who is calling: a session cookie or a bearer token, loaded once per request.

Also the typed dependencies that refuse anyone not signed in (401 for /api, a redirect to the
sign-in page for pages), `CurrentCaller` (what services take to act and audit), and the
recording of refusals (app.http.refusals raises them; the error handler records each once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from app.adapters.crypto import Keys
from app.config import Settings
from app.db import session_scope
from app.domain import addresses
from app.domain.access import Action, Actor, Parties, can
from app.domain.errors import Refusal, Unauthenticated
from app.http import csrf, deps
from app.http.deps import SessionDep
from app.http.refusals import refuse, refuse_page
from app.models import Organisation, User, utcnow
from app.services import audit, sessions
from app.services.caller import Caller


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    organisation: Organisation
    session_id: str | None  # None when authenticated by a bearer token

    @property
    def actor(self) -> Actor:
        return Actor(self.user.id, self.user.organisation_id, self.user.role)


def session_cookie_name(settings: Settings) -> str:
    return "__Host-attest_session" if settings.secure_cookies else "attest_session"


def timeouts(settings: Settings) -> sessions.Timeouts:
    return sessions.Timeouts(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )


def keys(request: Request) -> Keys:
    value: Keys = request.app.state.keys
    return value


def client_address(request: Request) -> str:
    """The caller's address, believing Forwarded (RFC 7239) or else X-Forwarded-For only from
    ATTEST_TRUSTED_PROXIES (app.domain.addresses); the one source for the sign-in throttle and
    the audit log."""
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else ""
    return addresses.client_address(
        peer,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_networks,
        forwarded=request.headers.getlist("forwarded"),
    )


def who(request: Request, principal: Principal | None = None) -> audit.Who:
    return audit.Who(
        user_id=principal.user.id if principal else None,
        org_id=principal.user.organisation_id if principal else None,
        address=client_address(request),
        request_id=str(getattr(request.state, "request_id", "")),
    )


def load_principal(request: Request, db: Session) -> Principal | None:
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    settings: Settings = request.app.state.settings
    now = utcnow()
    principal: Principal | None = None
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        found = sessions.find_token_user(db, authorization[7:].strip(), now=now)
        if found is None:
            raise Unauthenticated("The access token is not valid, was revoked or has expired.")
        principal = Principal(found[0], found[1], None)
    else:
        cookie = request.cookies.get(session_cookie_name(settings))
        view = sessions.find_session(db, cookie, now=now, timeouts=timeouts(settings)) if cookie else None
        if view is not None and view.mfa_passed:
            principal = Principal(view.user, view.organisation, view.session_id)
            if view.needs_touch:
                # Not a second writer beside a write request's own: it would wait for it 30 s.
                with deps.writer(request, db) as w:
                    sessions.touch_session(w, view.session_id, now=now)
    request.state.principal = principal
    request.state.user_id = principal.user.id if principal else None  # the request log line's user
    return principal


def optional_principal(request: Request, db: SessionDep) -> Principal | None:
    return load_principal(request, db)


def require_principal(request: Request, db: SessionDep) -> Principal:
    principal = load_principal(request, db)
    if principal is None:
        raise Unauthenticated("Sign in to continue.")
    return principal


async def csrf_guard(request: Request) -> None:
    settings: Settings = request.app.state.settings
    await csrf.check(request, keys(request).csrf_keys, settings.base_url)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
CurrentPrincipalDep = CurrentPrincipal


def record(
    request: Request,
    db: Session,
    principal: Principal | None,
    action: str,
    **fields: Any,
) -> None:
    """Audit an allowed action in the request's own transaction."""
    audit.record(db, keys(request).audit, who(request, principal), action, **fields)


def record_refusal(request: Request, refusal: Refusal) -> None:
    """Audit a refusal a service raised (app.domain.errors.Refusal): the one error handler calls
    this. The request's transaction has already rolled back and closed, so the event is written
    in a short write transaction of its own."""
    if getattr(request.state, "denied_recorded", False):
        return
    request.state.denied_recorded = True
    principal: Principal | None = getattr(request.state, "principal", None)
    with session_scope(request.app.state.engine, write=True) as writer:
        audit.record(
            writer,
            keys(request).audit,
            who(request, principal),
            refusal.action,
            outcome="denied",
            object_type=refusal.object_type,
            object_id=refusal.object_id,
            engagement_id=refusal.engagement_id,
        )
        writer.commit()


def authorise(
    request: Request,
    db: Session,
    principal: Principal,
    action: Action,
    parties: Parties | None,
    *,
    object_type: str,
    object_id: str,
    engagement_id: str | None = None,
) -> None:
    """Refuse (as 'not found', audited) unless `principal` may do `action` here."""
    if can(principal.actor, action, parties):
        return
    refuse(action, object_type=object_type, object_id=object_id, engagement_id=engagement_id)


def require(request: Request, db: Session, principal: Principal, action: Action) -> None:
    """Refuse a whole page (or form) the principal's role does not have: 404, audited.
    (`db` is unused: kept so every page calls it the same way.)"""
    if not can(principal.actor, action):
        refuse_page(action.value, request.url.path)


def set_session_cookie(response: Response, settings: Settings, token: str | None) -> None:
    name = session_cookie_name(settings)
    if token is None:
        response.delete_cookie(name, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax")
        return
    response.set_cookie(
        name,
        token,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
        max_age=settings.session_absolute_hours * 3600,
    )


def can_act(principal: Principal, action: Action) -> bool:
    return can(principal.actor, action)


def caller_of(request: Request, principal: Principal) -> Caller:
    """The signed-in caller as services see it: who acts, and how their actions are audited."""
    return Caller(principal.actor, who(request, principal), keys(request).audit)


def require_caller(request: Request, principal: CurrentPrincipalDep) -> Caller:
    return caller_of(request, principal)


CurrentCaller = Annotated[Caller, Depends(require_caller)]
