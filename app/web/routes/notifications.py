"""The notification centre, email preferences, and the secret calendar (ICS) feed."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.db import session_scope
from app.domain import reminders as rules
from app.domain.errors import NotFound
from app.http import auth
from app.http.deps import SessionDep
from app.services import notifications as service
from app.web.templating import render, templates

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])
feed_router = APIRouter(include_in_schema=False)


@pass_context
def unread_notifications(context: Context) -> int:
    """The signed-in person's unread count for the navigation (0 when nobody is signed in)."""
    request: Request = context["request"]
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return 0
    cached = getattr(request.state, "unread_notifications", None)
    if cached is None:
        with session_scope(request.app.state.engine) as session:
            cached = request.state.unread_notifications = service.unread_count(session, principal.user.id)
    return int(cached)


templates.env.globals["unread_notifications"] = unread_notifications


def page(
    request: Request, db: Session, principal: auth.Principal, *, status_code: int = 200, **extra: object
) -> Response:
    user_id = principal.user.id
    context = {
        "items": service.listing(db, user_id),
        "unread": service.unread_count(db, user_id),
        "preferences": service.preferences(db, user_id),
        "categories": rules.CATEGORIES,
        **extra,
    }
    return render(request, "notifications/index.html", context, status_code=status_code)


@router.get("/notifications", name="notifications:index")
def index(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    return page(request, db, principal)


@router.post("/notifications/{notification_id}/read", name="notifications:read")
def read(request: Request, notification_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    row = service.read_one(db, caller, notification_id)
    db.commit()
    follow = request.query_params.get("then") == "open" and row.link.startswith("/")
    target = row.link if follow else str(request.url_for("notifications:index"))
    return RedirectResponse(target, status_code=303)


@router.post("/notifications/read-all", name="notifications:read-all")
def read_all(request: Request, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    service.read_everything(db, caller)
    db.commit()
    return RedirectResponse(str(request.url_for("notifications:index")), status_code=303)


@router.post("/notifications/preferences", name="notifications:preferences")
async def preferences(request: Request, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    form = await request.form()
    service.choose_email(db, caller, {str(v) for v in form.getlist("email")})
    db.commit()
    return RedirectResponse(str(request.url_for("notifications:index")), status_code=303)


def feed_url(request: Request, token: str) -> str:
    base = request.app.state.settings.base_url
    return f"{base}{request.app.url_path_for('notifications:feed', token=token)}"


@router.get("/notifications/calendar", name="notifications:calendar")
def calendar(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    context = {"feed": service.feed_of(db, principal.user.id), "url": None}
    return render(request, "notifications/calendar.html", context)


@router.post("/notifications/calendar", name="notifications:calendar-new")
def calendar_new(request: Request, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    token = service.create_feed(db, caller)
    db.commit()
    context = {"feed": service.feed_of(db, caller.actor.user_id), "url": feed_url(request, token)}
    response = render(request, "notifications/calendar.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/notifications/calendar/revoke", name="notifications:calendar-revoke")
def calendar_revoke(request: Request, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    service.turn_off_feed(db, caller)
    db.commit()
    return RedirectResponse(str(request.url_for("notifications:calendar")), status_code=303)


@feed_router.get("/calendar/{token}.ics", name="notifications:feed")
def feed(request: Request, token: str) -> Response:
    """The secret feed: no session (calendar clients have none); the token is the credential."""
    if not token.startswith(service.FEED_PREFIX + "_") or len(token) > 100:
        raise NotFound("There is nothing at this address.")
    with session_scope(request.app.state.engine, write=True) as writer:
        user = service.feed_user(writer, token)
        body = service.feed_body(
            writer, user, today=clock.today(), base_url=request.app.state.settings.base_url
        )
        writer.commit()
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="attest.ics"',
        },
    )
