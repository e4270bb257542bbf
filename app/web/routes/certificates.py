"""The certificate register: list, add (with the certificate file), show, edit, withdraw; sub-contractors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.adapters.storage import StoredObject, TooLarge, Upload
from app.domain.access import SUPPLIER_ROLES, Role
from app.domain.audit import AuditAction
from app.domain.certificates import ITHC_PROVIDERS, SCHEME_LABELS, STATES, TIER_LABELS
from app.domain.errors import InvalidInput, UnsupportedType
from app.domain.files import safe_filename
from app.http import auth
from app.http.deps import SessionDep
from app.http.refusals import refuse_page
from app.http.uploads import Pace, ParsedForm, read_multipart, store_of
from app.models import Certificate, Evidence
from app.services import certificates as service
from app.services.certificates.subcontractors import TIERS
from app.services.evidence import forget, release
from app.web.forms import date_value, date_wording
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])
DATE_FIELDS = ("issued_on", "expires_on", "next_surveillance_on", "recertification_on")
REFUSED_FILE = (
    "The selected file is not a PDF or an image: upload the certificate as a PDF, PNG, JPEG, GIF or WebP."
)


def supplier_page(request: Request, principal: auth.Principal, *, lead: bool = False) -> None:
    allowed = {Role.SUPPLIER_LEAD} if lead else SUPPLIER_ROLES
    if principal.user.role not in allowed:
        refuse_page("certificates", request.url.path)


def draft_of(fields: Mapping[str, str]) -> service.CertificateDraft:
    """The certificate form's fields as typed (what is missing is empty)."""

    def get(name: str) -> str:
        if name in DATE_FIELDS:  # the GOV.UK date input's three fields, or an ISO value
            return date_value(fields, name)
        return str(fields.get(name, "") or "")

    return service.CertificateDraft(
        scheme=get("scheme"),
        holder=get("holder"),
        body=get("body"),
        number=get("number"),
        scope=get("scope"),
        issued_on=get("issued_on"),
        expires_on=get("expires_on"),
        next_surveillance_on=get("next_surveillance_on"),
        recertification_on=get("recertification_on"),
        provider=get("provider"),
    )


def values_of(c: Certificate) -> dict[str, str]:
    """A stored certificate as the form's values (the edit page)."""

    def day(value: Any) -> str:
        return value.isoformat() if value else ""

    return {
        "scheme": c.scheme.value,
        "holder": c.subcontractor_id or service.SUPPLIER_HOLDER,
        "body": c.body,
        "number": c.number,
        "scope": c.scope,
        "issued_on": day(c.issued_on),
        "expires_on": day(c.expires_on),
        "next_surveillance_on": day(c.next_surveillance_on),
        "recertification_on": day(c.recertification_on),
        "provider": c.provider,
    }


def form_context(db: Session, principal: auth.Principal, **extra: Any) -> dict[str, Any]:
    return {
        "schemes": list(SCHEME_LABELS.items()),
        "providers": ITHC_PROVIDERS,
        "holders": [(service.SUPPLIER_HOLDER, principal.organisation.name)]
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
    supplier_page(request, principal)
    return index_page(request, db, principal, holder=holder, state=state)


def index_page(
    request: Request,
    db: Session,
    principal: auth.Principal,
    *,
    holder: str = "",
    state: str = "",
    errors: dict[str, str] | None = None,
    subcontractor: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The register and the sub-contractors; after a refused sub-contractor, `subcontractor`
    holds what was typed and `errors` the reasons, by field."""
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
        "tiers": [(t.value, TIER_LABELS[t]) for t in TIERS],
        "tier_labels": TIER_LABELS,
        "is_lead": principal.user.role is Role.SUPPLIER_LEAD,
        "errors": errors or {},
        "subcontractor": subcontractor or {},
    }
    return render(request, "certificates/index.html", context, status_code=status)


@router.get("/certificates/new", name="certificates:new")
def new(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    supplier_page(request, principal, lead=True)
    return render(request, "certificates/form.html", form_context(db, principal, certificate=None))


def too_large(limit_mb: int) -> str:
    return f"The selected file is larger than the {limit_mb} MB limit: upload a smaller PDF or image."


async def read_form(request: Request) -> tuple[dict[str, str], Upload | None, str, bool]:
    """The submitted fields and, for multipart, the certificate file streamed into the store;
    last, whether the file passed the size limit. The file is the form's last field, so the
    fields typed before it are read even then (and the body is cut at the limit, not read on:
    the declared length is not refused up front, as every other upload does, for that reason)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        return {k: str(v) for k, v in form.items() if isinstance(v, str)}, None, "", False
    store = store_of(request)
    uploads: list[Upload] = []
    parsed = ParsedForm()

    def open_sink(filename: str) -> Upload:
        uploads.append(store.begin(filename=safe_filename(filename or "certificate")))
        return uploads[-1]

    try:
        await read_multipart(request, open_sink, pace=Pace.of(request.app.state.settings), into=parsed)
    except TooLarge:
        for item in uploads:
            item.abort()
        fields = {k: v[0] for k, v in parsed.fields.items() if v}
        return fields, None, safe_filename(parsed.file_name or ""), True
    except BaseException:
        for item in uploads:
            item.abort()
        raise
    fields = {k: v[0] for k, v in parsed.fields.items() if v}
    upload = uploads[0] if uploads else None
    if upload is not None and (not parsed.file_name or upload.size == 0):
        upload.abort()  # the form's file input was left empty
        upload = None
    return fields, upload, safe_filename(parsed.file_name or ""), False


def refused_file(upload: Upload | None) -> str | None:
    """Why the streamed file cannot be a certificate (its real type, sniffed), or None. The file
    is only checked here; it is kept by `finish_upload` once the whole form is valid."""
    if upload is None:
        return None
    try:
        accepted = upload.sniff() is not None
    except BaseException:
        upload.abort()
        raise
    return None if accepted else REFUSED_FILE


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
    fields, upload, name, oversized = await read_form(request)
    limit_mb = request.app.state.settings.max_upload_mb
    problems: dict[str, str] = {}
    try:
        data = service.check(db, principal.user.organisation_id, draft_of(fields), today=clock.today())
    except InvalidInput as error:
        details = error.details if isinstance(error.details, dict) else {"scheme": error.message}
        problems = {str(k): date_wording(str(k), str(v), fields) for k, v in details.items()}
    file_problem = too_large(limit_mb) if oversized else refused_file(upload)
    if problems or file_problem:
        # The same form again with everything typed (a browser cannot refill a file input, so
        # the page names the file to choose again); 415 or 413 when only the file was refused.
        if upload is not None:
            upload.abort()
        errors = {**problems, **({"file": file_problem} if file_problem else {})}
        context = form_context(
            db, principal, certificate=certificate, errors=errors, values=fields, file_name=name
        )
        status = 422 if problems else 413 if oversized else 415
        response = render(request, "certificates/form.html", context, status_code=status)
        if oversized:
            response.headers["Connection"] = "close"  # the rest of the body was never read
        return response
    release(db)  # nor while the file is made durable (S3: a network put)
    stored = finish_upload(upload) if upload is not None else None
    file = (
        service.CertificateFile(stored.key, stored.size, stored.media_type or "", name)
        if stored is not None
        else None
    )
    caller = auth.caller_of(request, principal)
    try:
        if certificate is None:
            row = service.create(db, caller, data, file=file)
        else:
            row = service.update(db, caller, certificate, data, file=file)
        db.commit()
    except Exception:
        db.rollback()
        if stored is not None:
            forget(db, store_of(request), stored.key)
        raise
    return RedirectResponse(str(request.url_for("certificates:show", certificate_id=row.id)), status_code=303)


@router.post("/certificates", name="certificates:create")
async def create(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    supplier_page(request, principal, lead=True)
    return await save(request, db, principal, None)


@router.get("/certificates/{certificate_id}", name="certificates:show")
def show(request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    caller = auth.caller_of(request, principal)
    row = service.view(db, caller, certificate_id, today=clock.today())
    certificate = row.certificate
    evidence = db.get(Evidence, certificate.evidence_id) if certificate.evidence_id else None
    context = {
        "row": row,
        "c": certificate,
        "evidence": evidence,
        "tier_labels": TIER_LABELS,
        "can_manage": service.may_manage(principal.actor, certificate.supplier_org_id),
    }
    return render(request, "certificates/show.html", context)


@router.get("/certificates/{certificate_id}/edit", name="certificates:edit")
def edit(request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    c = service.certificate_to_manage(db, principal.actor, certificate_id, "certificate_edit")
    context = form_context(db, principal, certificate=c, values=values_of(c))
    return render(request, "certificates/form.html", context)


@router.post("/certificates/{certificate_id}", name="certificates:update")
async def update(
    request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    c = service.certificate_to_manage(db, principal.actor, certificate_id, AuditAction.CERTIFICATE_UPDATED)
    return await save(request, db, principal, c)


@router.post("/certificates/{certificate_id}/withdraw", name="certificates:withdraw")
def withdraw(
    request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    c = service.certificate_to_manage(db, principal.actor, certificate_id, AuditAction.CERTIFICATE_WITHDRAWN)
    service.withdraw(db, auth.caller_of(request, principal), c)
    db.commit()
    return RedirectResponse(str(request.url_for("certificates:show", certificate_id=c.id)), status_code=303)


@router.post("/subcontractors", name="certificates:add-subcontractor")
async def add_subcontractor(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    supplier_page(request, principal, lead=True)
    form = await request.form()
    name, tier = str(form.get("name", "")), str(form.get("tier", ""))
    try:
        service.add_subcontractor(db, auth.caller_of(request, principal), name=name, tier=tier)
    except InvalidInput as problem:
        db.rollback()
        details = problem.details if isinstance(problem.details, dict) else {"name": problem.message}
        errors = {str(k): str(v) for k, v in details.items()}
        typed = {"name": name, "tier": tier}
        return index_page(request, db, principal, errors=errors, subcontractor=typed, status=422)
    db.commit()
    return RedirectResponse(str(request.url_for("certificates:index")), status_code=303)


@router.post("/subcontractors/{subcontractor_id}/remove", name="certificates:remove-subcontractor")
def remove_subcontractor(
    request: Request, subcontractor_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> Response:
    row = service.subcontractor_to_manage(db, principal.actor, subcontractor_id)
    service.remove_subcontractor(db, auth.caller_of(request, principal), row)
    db.commit()
    return RedirectResponse(str(request.url_for("certificates:index")), status_code=303)
