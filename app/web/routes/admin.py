"""People and organisations: administrators manage all; supplier leads invite their own team."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.adapters.mail import Mailer
from app.config import Settings
from app.domain.access import Action, Role, invitable_roles
from app.domain.audit import AuditAction
from app.domain.errors import AttestError, InvalidInput, Refusal
from app.http import auth
from app.http.auth import require
from app.http.deps import MailerDep, SessionDep, SettingsDep
from app.models import OrgKind, User, utcnow
from app.services import account_notices, accounts
from app.services.caller import Caller
from app.web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(auth.require_principal)])
# What a page confirms after a redirect (`?saved=`): a closed set, never the query's own text.
SAVED = {
    "organisation": "The organisation was added.",
    "disabled": "The account was disabled: its sessions and tokens stopped working.",
    "enabled": "The account was enabled again.",
}


def saved_message(request: Request, errors: dict[str, str] | None) -> str | None:
    return None if errors else SAVED.get(request.query_params.get("saved", ""))


def back(request: Request, name: str, saved: str) -> RedirectResponse:
    """Post/Redirect/Get to `name`, whose page shows the `saved` banner."""
    return RedirectResponse(str(request.url_for(name).include_query_params(saved=saved)), status_code=303)


def organisations_page(
    request: Request,
    db: SessionDep,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    orgs = accounts.organisations(db)
    kinds = [(k.value, k.value.title()) for k in OrgKind]
    context = {
        "organisations": orgs,
        "errors": errors or {},
        "form": form or {},
        "kinds": kinds,
        "saved": saved_message(request, errors),
    }
    return render(request, "admin/organisations.html", context, status_code=status)


@router.get("/organisations", name="admin:organisations")
def organisations(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    require(request, db, principal, Action.MANAGE_ORGANISATIONS)
    return organisations_page(request, db)


@router.post("/organisations", name="admin:create-organisation")
def create_organisation(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
    name: Annotated[str, Form(max_length=300)] = "",
    kind: Annotated[str, Form(max_length=20)] = "supplier",
) -> Response:
    require(request, db, principal, Action.MANAGE_ORGANISATIONS)
    try:
        accounts.add_organisation(db, caller, name=name, kind=kind)
    except Refusal:
        raise
    except AttestError as problem:
        field = str((problem.details or {}).get("field", "name"))
        db.rollback()
        return organisations_page(request, db, {field: problem.message}, {"name": name, "kind": kind}, 422)
    db.commit()
    return back(request, "admin:organisations", "organisation")


@dataclass(frozen=True, slots=True)
class Sent:
    """What the people page says after a link went out (the link itself only while mail is off
    and the account was never enrolled)."""

    user: User
    issued: accounts.Issued
    failed: list[str]


def users_page(
    request: Request,
    db: SessionDep,
    principal: auth.Principal,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    sent: Sent | None = None,
    status: int = 200,
) -> Response:
    actor = principal.actor
    orgs = accounts.organisations(db) if actor.role is Role.ADMINISTRATOR else [principal.organisation]
    org_names = {o.id: o.name for o in orgs}
    people = accounts.visible_users(db, actor)
    context = {
        "users": people,
        "enrolled": {u.id for u in people if accounts.has_credentials(u)},
        "org_names": org_names,
        "organisations": [(o.id, o.name) for o in orgs],
        "roles": [(r.value, r.value.replace("_", " ")) for r in sorted(invitable_roles(actor))],
        "errors": errors or {},
        "form": form or {},
        "sent": sent,
        "saved": None if sent else saved_message(request, errors),
    }
    response = render(request, "admin/users.html", context, status_code=status)
    if sent:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/users", name="admin:users")
def users(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    require(request, db, principal, Action.INVITE_TEAM)
    return users_page(request, db, principal)


def send_link(db: SessionDep, settings: Settings, mailer: Mailer, caller: Caller, user: User) -> Sent:
    """Issue the account's link (an invitation, or a reset when it has credentials), commit,
    then mail it to the account's own address."""
    issued = accounts.issue_link(db, caller, settings, user=user, now=utcnow())
    db.commit()
    return Sent(user, issued, account_notices.deliver(mailer, issued.mails))


@router.post("/users", name="admin:create-user")
def create_user(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
    email: Annotated[str, Form(max_length=300)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    organisation_id: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    require(request, db, principal, Action.INVITE_TEAM)
    form = {"email": email, "name": name, "organisation_id": organisation_id, "role": role}
    try:
        user = accounts.add_user(
            db,
            caller,
            email=email,
            name=name,
            organisation_id=organisation_id or principal.user.organisation_id,
            role=role,
        )
    except Refusal:
        raise  # answered as "not found" (or 403) and audited by the one error handler
    except AttestError as problem:
        db.rollback()
        field = str((problem.details or {}).get("field", "email"))
        return users_page(request, db, principal, errors={field: problem.message}, form=form, status=422)
    sent = send_link(db, settings, mailer, caller, user)
    return users_page(request, db, principal, sent=sent)


@router.post("/users/{user_id}/disable", name="admin:disable-user")
def disable_user(
    request: Request,
    user_id: str,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    user = accounts.managed_user(db, caller, user_id, AuditAction.USER_DISABLED)
    try:
        accounts.disable(db, caller, user, now=utcnow())
    except InvalidInput as problem:
        return users_page(request, db, principal, errors={"email": problem.message}, status=422)
    db.commit()
    return back(request, "admin:users", "disabled")


@router.post("/users/{user_id}/enable", name="admin:enable-user")
def enable_user(request: Request, user_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    user = accounts.managed_user(db, caller, user_id, AuditAction.USER_ENABLED)
    accounts.enable(db, caller, user)
    db.commit()
    return back(request, "admin:users", "enabled")


@router.post("/users/{user_id}/invite", name="admin:reinvite-user")
def reinvite_user(
    request: Request,
    user_id: str,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    """A new link by mail: an invitation for an account never enrolled, otherwise a reset."""
    user = accounts.managed_user(db, caller, user_id, AuditAction.USER_INVITED)
    try:
        sent = send_link(db, settings, mailer, caller, user)
    except InvalidInput as problem:
        return users_page(request, db, principal, errors={"email": problem.message}, status=422)
    return users_page(request, db, principal, sent=sent)
