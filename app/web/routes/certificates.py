"""The certificate register: list, add (with the certificate file), show, edit, withdraw; sub-contractors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.domain.access import SUPPLIER_ROLES, Role
from app.domain.certificates import ITHC_PROVIDERS, SCHEME_LABELS, STATES, TIER_LABELS, Tier
from app.domain.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedType
from app.domain.files import safe_filename
from app.models import Certificate, Evidence
from app.services import certificates as service
from app.storage import StoredObject, TooLarge, Upload
from app.web import auth
from app.web.deps import SessionDep
from app.web.routes.evidence import forget, refuse_oversized, release, store_of
from app.web.templating import render
from app.web.uploads import Pace, read_multipart

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])


def refuse(request: Request, db: Session, principal: auth.Principal, action: str, object_id: str) -> NotFound:
    auth.record_denied(request, db, principal, action, object_type="certificate", object_id=object_id)
    return NotFound("No such certificate.")


def supplier_page(request: Request, db: Session, principal: auth.Principal, *, lead: bool = False) -> None:
    allowed = {Role.SUPPLIER_LEAD} if lead else SUPPLIER_ROLES
    if principal.user.role not in allowed:
        auth.record_denied(
            request, db, principal, "certificates", object_type="page", object_id=request.url.path
        )
        raise NotFound("There is nothing at this address.")


def form_context(db: Session, principal: auth.Principal, **extra: Any) -> dict[str, Any]:
    return {
        "schemes": list(SCHEME_LABELS.items()),
        "providers": ITHC_PROVIDERS,
        "holders": [("supplier", principal.organisation.name)]
        + [
            (s.id, f"{s.name} ({TIER_LABELS[s.tier]})")
            for s in service.subcontractors(db, principal.user.organisation_id)
        ],
        "errors": {},
        "values": {},
        **extra,
    }


@router.get("/certificates", name="certificates:index")
def index(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    holder: str = Query("", max_length=200),
    state: str = Query("", max_length=20),
) -> Response:
    supplier_page(request, db, principal)
    org_id = principal.user.organisation_id
    today = clock.today()
    try:
        rows = service.rows(db, {org_id}, today=today, holder=holder, state=state)
    except InvalidInput:
        rows, state = service.rows(db, {org_id}, today=today, holder=holder), ""
    context = {
        "rows": rows,
        "holder": holder,
        "state": state,
        "states": STATES,
        "holders": service.holders(db, org_id),
        "subcontractors": service.subcontractors(db, org_id),
        "blockers": [b.message for b in service.blockers_for_supplier(db, org_id, today=today)],
        "tiers": [(t.value, TIER_LABELS[t]) for t in (Tier.HIGHER_RISK, Tier.MEDIUM_RISK)],
        "tier_labels": TIER_LABELS,
        "is_lead": principal.user.role is Role.SUPPLIER_LEAD,
        "errors": {},
    }
    return render(request, "certificates/index.html", context)


@router.get("/certificates/new", name="certificates:new")
def new(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    supplier_page(request, db, principal, lead=True)
    return render(request, "certificates/form.html", form_context(db, principal, certificate=None))


async def read_form(request: Request) -> tuple[dict[str, str], Upload | None, str]:
    """The submitted fields and, for multipart, the certificate file streamed into the store."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        return {k: str(v) for k, v in form.items() if isinstance(v, str)}, None, ""
    refuse_oversized(request)
    store = store_of(request)
    uploads: list[Upload] = []

    def open_sink(filename: str) -> Upload:
        uploads.append(store.begin(filename=safe_filename(filename or "certificate")))
        return uploads[-1]

    try:
        parsed = await read_multipart(request, open_sink, pace=Pace.of(request.app.state.settings))
    except TooLarge:
        for item in uploads:
            item.abort()
        raise PayloadTooLarge(
            f"The file is larger than the {request.app.state.settings.max_upload_mb} MB limit."
        ) from None
    except BaseException:
        for item in uploads:
            item.abort()
        raise
    fields = {k: v[0] for k, v in parsed.fields.items() if v}
    upload = uploads[0] if uploads else None
    if upload is not None and (not parsed.file_name or upload.size == 0):
        upload.abort()  # the form's file input was left empty
        upload = None
    return fields, upload, safe_filename(parsed.file_name or "")


def finish_upload(upload: Upload) -> StoredObject:
    """Check the real type of the streamed file and keep it in the store (before any row is written)."""
    try:
        media_type = upload.sniff()
        if media_type is None:
            raise UnsupportedType(
                "That kind of file is not accepted: upload the certificate as a PDF or an image."
            )
        stored = upload.finish()
    except BaseException:
        upload.abort()
        raise
    return stored if stored.media_type else StoredObject(stored.key, stored.size, media_type)


async def save(
    request: Request, db: Session, principal: auth.Principal, certificate: Certificate | None
) -> Response:
    release(db)  # no lock while the body streams in
    fields, upload, name = await read_form(request)
    today = clock.today()
    try:
        data = service.parse(db, principal.user.organisation_id, fields, today=today)
    except InvalidInput as error:
        if upload is not None:
            upload.abort()
        problems = error.details if isinstance(error.details, dict) else {"scheme": error.message}
        context = form_context(db, principal, certificate=certificate, errors=problems, values=fields)
        return render(request, "certificates/form.html", context, status_code=422)
    release(db)  # nor while the file is made durable (S3: a network put)
    stored = finish_upload(upload) if upload is not None else None
    try:
        evidence_id = None
        if stored is not None:
            holder = principal.organisation.name
            for sub in service.subcontractors(db, principal.user.organisation_id):
                holder = sub.name if sub.id == data.subcontractor_id else holder
            evidence = service.register_file(
                db,
                principal.actor,
                sha256=stored.key,
                size=stored.size,
                media_type=stored.media_type or "application/octet-stream",
                file_name=name,
                title=f"{SCHEME_LABELS[data.scheme]} certificate: {holder}",
                expires_on=data.expires_on,
                supersedes=certificate.evidence_id if certificate else None,
            )
            evidence_id = evidence.id
        if certificate is None:
            row = service.create(db, principal.actor, data, evidence_id=evidence_id)
            action = "certificate_added"
        else:
            row = service.update(db, principal.actor, certificate, data, evidence_id=evidence_id)
            action = "certificate_updated"
        auth.record(
            request,
            db,
            principal,
            action,
            object_type="certificate",
            object_id=row.id,
            details={
                "scheme": row.scheme.value,
                "expires_on": str(row.expires_on),
                "evidence_id": evidence_id,
            },
        )
        db.commit()
    except Exception:
        db.rollback()
        if stored is not None:
            forget(db, store_of(request), stored.key)
        raise
    return RedirectResponse(str(request.url_for("certificates:show", certificate_id=row.id)), status_code=303)


@router.post("/certificates", name="certificates:create")
async def create(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    supplier_page(request, db, principal, lead=True)
    return await save(request, db, principal, None)


@router.get("/certificates/{certificate_id}", name="certificates:show")
def show(request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    try:
        certificate = service.readable(db, principal.actor, certificate_id)
    except NotFound:
        raise refuse(request, db, principal, "certificate_viewed", certificate_id) from None
    row = service.row_for(db, certificate, today=clock.today())
    evidence = db.get(Evidence, certificate.evidence_id) if certificate.evidence_id else None
    context = {
        "row": row,
        "c": certificate,
        "evidence": evidence,
        "tier_labels": TIER_LABELS,
        "can_manage": principal.user.role is Role.SUPPLIER_LEAD
        and certificate.supplier_org_id == principal.user.organisation_id,
    }
    return render(request, "certificates/show.html", context)


def managed(
    request: Request, db: Session, principal: auth.Principal, certificate_id: str, action: str
) -> Certificate:
    try:
        return service.managed(db, principal.actor, certificate_id)
    except NotFound:
        raise refuse(request, db, principal, action, certificate_id) from None


@router.get("/certificates/{certificate_id}/edit", name="certificates:edit")
def edit(request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    c = managed(request, db, principal, certificate_id, "certificate_edit")
    values = {
        "scheme": c.scheme.value,
        "holder": c.subcontractor_id or "supplier",
        "body": c.body,
        "number": c.number,
        "scope": c.scope,
        "issued_on": c.issued_on.isoformat(),
        "expires_on": c.expires_on.isoformat() if c.expires_on else "",
        "next_surveillance_on": c.next_surveillance_on.isoformat() if c.next_surveillance_on else "",
        "recertification_on": c.recertification_on.isoformat() if c.recertification_on else "",
        "provider": c.provider,
    }
    return render(
        request, "certificates/form.html", form_context(db, principal, certificate=c, values=values)
    )


@router.post("/certificates/{certificate_id}", name="certificates:update")
async def update(
    request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    c = managed(request, db, principal, certificate_id, "certificate_updated")
    return await save(request, db, principal, c)


@router.post("/certificates/{certificate_id}/withdraw", name="certificates:withdraw")
def withdraw(
    request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    c = managed(request, db, principal, certificate_id, "certificate_withdrawn")
    service.withdraw(db, principal.actor, c)
    auth.record(request, db, principal, "certificate_withdrawn", object_type="certificate", object_id=c.id)
    db.commit()
    return RedirectResponse(str(request.url_for("certificates:show", certificate_id=c.id)), status_code=303)


@router.post("/subcontractors", name="certificates:add-subcontractor")
async def add_subcontractor(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    supplier_page(request, db, principal, lead=True)
    form = await request.form()
    name, tier = str(form.get("name", "")), str(form.get("tier", ""))
    row = service.add_subcontractor(db, principal.actor, name=name, tier=tier)
    auth.record(
        request,
        db,
        principal,
        "subcontractor_added",
        object_type="subcontractor",
        object_id=row.id,
        details={"name": row.name, "tier": row.tier.value},
    )
    db.commit()
    return RedirectResponse(str(request.url_for("certificates:index")), status_code=303)


@router.post("/subcontractors/{subcontractor_id}/remove", name="certificates:remove-subcontractor")
def remove_subcontractor(
    request: Request, subcontractor_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    try:
        row = service.remove_subcontractor(db, principal.actor, subcontractor_id)
    except NotFound:
        auth.record_denied(
            request,
            db,
            principal,
            "subcontractor_removed",
            object_type="subcontractor",
            object_id=subcontractor_id,
        )
        raise
    auth.record(
        request, db, principal, "subcontractor_removed", object_type="subcontractor", object_id=row.id
    )
    db.commit()
    return RedirectResponse(str(request.url_for("certificates:index")), status_code=303)
