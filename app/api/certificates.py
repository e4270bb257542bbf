"""Certificate register API: list (filter by holder, state, scheme), add, read one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from app import clock
from app.api.bodies import CertificateOut, CertificatesOut, CertificateState
from app.api.schema import ApiRoute
from app.domain.certificates import Scheme
from app.domain.errors import NotFound
from app.services import certificates as service
from app.web import auth
from app.web.deps import SessionDep

router = APIRouter(
    prefix="/api",
    tags=["certificates"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)


class CertificateBody(BaseModel):
    scheme: Scheme
    holder: str = Field(default="supplier", description='"supplier" or a sub-contractor id')
    body: str = ""
    number: str = ""
    scope: str = ""
    issued_on: str = Field(description="YYYY-MM-DD")
    expires_on: str = Field(default="", description="YYYY-MM-DD; empty for the scheme default")
    next_surveillance_on: str = ""
    recertification_on: str = ""
    provider: str = Field(default="", description="CHECK or CREST (IT Health Checks)")
    evidence_id: str = Field(default="", description="the certificate file, from your evidence library")


@router.get("/certificates", name="api:certificates", response_model=CertificatesOut)
def list_certificates(
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    holder: str = Query("", max_length=200, description='"supplier", a sub-contractor id or a holder name'),
    state: CertificateState | Literal[""] = Query("", description="empty for every state"),
    scheme: Scheme | Literal[""] = Query("", description="empty for every scheme"),
    supplier_org_id: str = Query("", max_length=32, description="buyers: one supplier only"),
) -> dict[str, Any]:
    """Certificates the caller may see: their own organisation's, or their suppliers' (buyers)."""
    suppliers = service.visible_supplier_ids(db, principal.actor)
    if supplier_org_id:
        suppliers &= {supplier_org_id}
    rows = service.rows(db, suppliers, today=clock.today(), holder=holder, state=state, scheme=scheme)
    return {"certificates": [service.to_json(r) for r in rows]}


@router.post("/certificates", name="api:create-certificate", status_code=201, response_model=CertificateOut)
def create_certificate(
    request: Request, payload: CertificateBody, db: SessionDep, principal: auth.CurrentPrincipal
) -> JSONResponse:
    """Add a certificate (supplier leads); the scheme rules are checked and every problem listed."""
    service.require_lead(principal.actor)
    fields = payload.model_dump()
    data = service.parse(db, principal.user.organisation_id, fields, today=clock.today())
    row = service.create(db, principal.actor, data, evidence_id=payload.evidence_id or None)
    auth.record(
        request,
        db,
        principal,
        "certificate_added",
        object_type="certificate",
        object_id=row.id,
        details={"scheme": row.scheme.value, "expires_on": str(row.expires_on), "via": "api"},
    )
    db.commit()
    return JSONResponse(service.to_json(service.row_for(db, row, today=clock.today())), status_code=201)


@router.get("/certificates/{certificate_id}", name="api:certificate", response_model=CertificateOut)
def show_certificate(
    request: Request, certificate_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    try:
        row = service.readable(db, principal.actor, certificate_id)
    except NotFound:
        auth.record_denied(
            request, db, principal, "certificate_viewed", object_type="certificate", object_id=certificate_id
        )
        raise
    return service.to_json(service.row_for(db, row, today=clock.today()))
