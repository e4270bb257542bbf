"""People and organisations: administrators manage all; supplier leads invite their own team."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.domain.access import Action, Role, can, invitable_roles
from app.domain.errors import AttestError, NotFound
from app.models import Organisation, OrgKind, User, utcnow
from app.services import accounts
from app.web import auth
from app.web.deps import SessionDep, SettingsDep
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


def users_page(
    request: Request,
    db: SessionDep,
    principal: auth.Principal,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    invitation: tuple[User, str] | None = None,
    status: int = 200,
) -> Response:
    actor = principal.actor
    if actor.role is Role.ADMINISTRATOR:
        orgs = list(db.exec(select(Organisation).order_by(col(Organisation.name))))
    else:
        orgs = [principal.organisation]
    org_names = {o.id: o.name for o in orgs}
    context = {
        "users": accounts.visible_users(db, actor),
        "org_names": org_names,
        "organisations": [(o.id, o.name) for o in orgs],
        "roles": [(r.value, r.value.replace("_", " ")) for r in sorted(invitable_roles(actor))],
        "errors": errors or {},
        "form": form or {},
        "invitation": invitation,
    }
    response = render(request, "admin/users.html", context, status_code=status)
    if invitation:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/users", name="admin:users")
def users(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    require(request, db, principal, Action.INVITE_TEAM)
    return users_page(request, db, principal)


def invitation_link(settings_base: str, request: Request, token: str) -> str:
    return settings_base + str(request.app.url_path_for("auth:invitation", token=token))


@router.post("/users", name="admin:create-user")
def create_user(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
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
        token = accounts.issue_invitation(db, user=user, by_user_id=principal.user.id, now=utcnow())
    except AttestError as problem:
        db.rollback()
        field = str((problem.details or {}).get("field", "email"))
        return users_page(request, db, principal, errors={field: problem.message}, form=form, status=422)
    auth.record(
        request,
        db,
        principal,
        "user_invited",
        object_type="user",
        object_id=user.id,
        details={"role": user.role.value},
    )
    db.commit()
    return users_page(
        request,
        db,
        principal,
        invitation=(user, invitation_link(settings.base_url, request, token)),
    )


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
    principal: auth.CurrentPrincipal,
) -> Response:
    user = managed_user(request, db, principal, user_id, "user_invited")
    token = accounts.issue_invitation(db, user=user, by_user_id=principal.user.id, now=utcnow())
    auth.record(request, db, principal, "user_invited", object_type="user", object_id=user.id)
    db.commit()
    return users_page(
        request,
        db,
        principal,
        invitation=(user, invitation_link(settings.base_url, request, token)),
    )
