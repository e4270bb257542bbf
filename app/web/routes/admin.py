"""People and organisations: administrators manage all; supplier leads invite their own team."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.config import Settings
from app.domain.access import Action, Role, can, invitable_roles
from app.domain.errors import AttestError, InvalidInput, NotFound, Refusal
from app.mail import Mailer
from app.models import Organisation, OrgKind, User, utcnow
from app.services import account_notices, accounts
from app.web import auth
from app.web.deps import MailerDep, SessionDep, SettingsDep
from app.web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(auth.require_principal)])


def require(request: Request, db: SessionDep, principal: auth.Principal, action: Action) -> None:
    if not can(principal.actor, action):
        auth.record_denied(
            request, db, principal, action.value, object_type="page", object_id=request.url.path
        )
        raise NotFound("There is nothing at this address.")


def organisations_page(
    request: Request,
    db: SessionDep,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    orgs = db.exec(select(Organisation).order_by(col(Organisation.name))).all()
    kinds = [(k.value, k.value.title()) for k in OrgKind]
    context = {"organisations": orgs, "errors": errors or {}, "form": form or {}, "kinds": kinds}
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
    name: Annotated[str, Form(max_length=300)] = "",
    kind: Annotated[str, Form(max_length=20)] = "supplier",
) -> Response:
    require(request, db, principal, Action.MANAGE_ORGANISATIONS)
    try:
        org = accounts.create_organisation(db, name=name, kind=kind)
    except AttestError as problem:
        field = str((problem.details or {}).get("field", "name"))
        db.rollback()
        return organisations_page(request, db, {field: problem.message}, {"name": name, "kind": kind}, 422)
    auth.record(request, db, principal, "organisation_created", object_type="organisation", object_id=org.id)
    db.commit()
    return RedirectResponse(str(request.url_for("admin:organisations")), status_code=303)


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
    if actor.role is Role.ADMINISTRATOR:
        orgs = list(db.exec(select(Organisation).order_by(col(Organisation.name))))
    else:
        orgs = [principal.organisation]
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
    }
    response = render(request, "admin/users.html", context, status_code=status)
    if sent:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/users", name="admin:users")
def users(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    require(request, db, principal, Action.INVITE_TEAM)
    return users_page(request, db, principal)


def send_link(
    request: Request,
    db: SessionDep,
    settings: Settings,
    mailer: Mailer,
    principal: auth.Principal,
    user: User,
) -> Sent:
    """Issue the account's link (an invitation, or a reset when it has credentials), commit,
    then mail it to the account's own address."""
    issued = accounts.issue_link(
        db,
        auth.keys(request),
        settings,
        user=user,
        by=principal.user,
        who=auth.who(request, principal),
        now=utcnow(),
    )
    db.commit()
    return Sent(user, issued, account_notices.deliver(mailer, issued.mails))


@router.post("/users", name="admin:create-user")
def create_user(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    principal: auth.CurrentPrincipal,
    email: Annotated[str, Form(max_length=300)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    organisation_id: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    require(request, db, principal, Action.INVITE_TEAM)
    form = {"email": email, "name": name, "organisation_id": organisation_id, "role": role}
    try:
        user = accounts.create_user(
            db,
            email=email,
            name=name,
            organisation_id=organisation_id or principal.user.organisation_id,
            role=role,
            by=principal.actor,
        )
    except Refusal:
        raise  # answered as "not found" (or 403) and audited by the one error handler
    except AttestError as problem:
        db.rollback()
        field = str((problem.details or {}).get("field", "email"))
        return users_page(request, db, principal, errors={field: problem.message}, form=form, status=422)
    sent = send_link(request, db, settings, mailer, principal, user)
    return users_page(request, db, principal, sent=sent)


def managed_user(
    request: Request, db: SessionDep, principal: auth.Principal, user_id: str, action: str
) -> User:
    try:
        return accounts.manageable_user(db, principal.actor, user_id)
    except NotFound:
        auth.record_denied(request, db, principal, action, object_type="user", object_id=user_id)
        raise


@router.post("/users/{user_id}/disable", name="admin:disable-user")
def disable_user(
    request: Request, user_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    user = managed_user(request, db, principal, user_id, "user_disabled")
    if user.id == principal.user.id:
        return users_page(
            request,
            db,
            principal,
            errors={"email": "You cannot disable your own account."},
            status=422,
        )
    accounts.disable_user(db, user, now=utcnow())
    auth.record(request, db, principal, "user_disabled", object_type="user", object_id=user.id)
    db.commit()
    return RedirectResponse(str(request.url_for("admin:users")), status_code=303)


@router.post("/users/{user_id}/enable", name="admin:enable-user")
def enable_user(request: Request, user_id: str, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    user = managed_user(request, db, principal, user_id, "user_enabled")
    accounts.enable_user(db, user)
    auth.record(request, db, principal, "user_enabled", object_type="user", object_id=user.id)
    db.commit()
    return RedirectResponse(str(request.url_for("admin:users")), status_code=303)


@router.post("/users/{user_id}/invite", name="admin:reinvite-user")
def reinvite_user(
    request: Request,
    user_id: str,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    """A new link by mail: an invitation for an account never enrolled, otherwise a reset."""
    user = managed_user(request, db, principal, user_id, "user_invited")
    try:
        sent = send_link(request, db, settings, mailer, principal, user)
    except InvalidInput as problem:
        return users_page(request, db, principal, errors={"email": problem.message}, status=422)
    return users_page(request, db, principal, sent=sent)
