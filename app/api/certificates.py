"""Certificate register API: list (filter by holder, state, scheme), add, read one, change one,
withdraw one; the supplier's sub-contractors (list, add, remove). The same service functions,
rules, refusals and audit events as the pages (app.web.routes.certificates)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from app import clock
from app.api.bodies import CertificateOut, CertificateState, HolderOut, Out
from app.api.schema import ApiRoute
from app.domain.audit import AuditAction
from app.domain.certificates import SCHEME_LABELS, TIER_LABELS, Scheme, Tier
from app.domain.errors import InvalidInput
from app.http import auth
from app.http.deps import SessionDep
from app.models import Subcontractor
from app.services import certificates as service

router = APIRouter(
    prefix="/api",
    tags=["certificates"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)

SubcontractorTier = Literal["higher_risk", "medium_risk"]
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many items (1-500)")]
Cursor = Annotated[
    str, Query(max_length=400, description="`next_cursor` of the previous page; empty for the first")
]


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
    evidence_id: str = Field(
        default="",
        description="the certificate file, from your evidence library (on a change: empty keeps it)",
    )

    def draft(self) -> service.CertificateDraft:
        return service.CertificateDraft(
            scheme=self.scheme.value,
            holder=self.holder,
            body=self.body,
            number=self.number,
            scope=self.scope,
            issued_on=self.issued_on,
            expires_on=self.expires_on,
            next_surveillance_on=self.next_surveillance_on,
            recertification_on=self.recertification_on,
            provider=self.provider,
        )


class CertificateListOut(Out):
    certificates: list[CertificateOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class SubcontractorIn(BaseModel):
    name: str = Field(max_length=1000, description="the sub-contractor's name (up to 200 characters)")
    tier: SubcontractorTier = Field(description="Schedule 2.4 risk tier")


class SubcontractorOut(Out):
    id: str
    supplier_org_id: str
    name: str
    tier: Tier
    tier_label: str
    created_at: datetime
    removed_at: datetime | None


class SubcontractorListOut(Out):
    subcontractors: list[SubcontractorOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


def certificate_out(row: service.Row) -> CertificateOut:
    c = row.certificate
    return CertificateOut(
        id=c.id,
        supplier_org_id=c.supplier_org_id,
        scheme=c.scheme,
        scheme_label=SCHEME_LABELS[c.scheme],
        holder=HolderOut(
            id=row.holder.key or None,
            name=row.holder.name,
            tier=row.holder.tier,
            tier_label=TIER_LABELS[row.holder.tier],
        ),
        body=c.body,
        number=c.number,
        scope=c.scope,
        issued_on=c.issued_on,
        expires_on=c.expires_on,
        next_surveillance_on=c.next_surveillance_on,
        recertification_on=c.recertification_on,
        provider=c.provider or None,  # checked on entry: CHECK or CREST
        evidence_id=c.evidence_id,
        state=str(row.state),  # a CertificateState value
        withdrawn_at=c.withdrawn_at.isoformat() if c.withdrawn_at else None,
    )


def subcontractor_out(row: Subcontractor) -> SubcontractorOut:
    return SubcontractorOut(
        id=row.id,
        supplier_org_id=row.supplier_org_id,
        name=row.name,
        tier=row.tier,
        tier_label=TIER_LABELS[row.tier],
        created_at=row.created_at,
        removed_at=row.removed_at,
    )


# --- pages of a list --------------------------------------------------------------------------

T = TypeVar("T")
Key = tuple[int | str, ...]


def _encode(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode(cursor: str, like: Key) -> Key:
    """The sort key a cursor carries; InvalidInput (422) when it is not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raw = None
    if (
        not isinstance(raw, list)
        or len(raw) != len(like)
        or any(type(value) is not type(sample) for value, sample in zip(raw, like, strict=True))
    ):
        raise InvalidInput(
            "The cursor is not valid: pass the `next_cursor` of the previous page.",
            details={"cursor": cursor},
        )
    return tuple(raw)


def paged(
    items: Sequence[T], key: Callable[[T], Key], *, like: Key, limit: int, cursor: str
) -> tuple[list[T], str | None]:
    """One page of `items` in the order of `key`, after the item the cursor names (keyset: an
    item added or removed between pages neither repeats nor hides another)."""
    ordered = sorted(items, key=key)
    if cursor:
        after = _decode(cursor, like)
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, _encode(key(page[-1])) if more and page else None


def _certificate_key(row: service.Row) -> Key:
    return (-row.certificate.issued_on.toordinal(), row.certificate.id)  # newest issue first


def _subcontractor_key(row: Subcontractor) -> Key:
    return (row.name, row.id)


# --- certificates -----------------------------------------------------------------------------


@router.get("/certificates", name="api:certificates", response_model=CertificateListOut)
def list_certificates(
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    holder: str = Query("", max_length=200, description='"supplier", a sub-contractor id or a holder name'),
    state: CertificateState | Literal[""] = Query("", description="empty for every state"),
    scheme: Scheme | Literal[""] = Query("", description="empty for every scheme"),
    supplier_org_id: str = Query("", max_length=32, description="buyers: one supplier only"),
    limit: Limit = 100,
    cursor: Cursor = "",
) -> CertificateListOut:
    """Certificates the caller may see: their own organisation's, or their suppliers' (buyers)."""
    suppliers = service.visible_supplier_ids(db, principal.actor)
    if supplier_org_id:
        suppliers &= {supplier_org_id}
    rows = service.rows(db, suppliers, today=clock.today(), holder=holder, state=state, scheme=scheme)
    page, next_cursor = paged(rows, _certificate_key, like=(0, ""), limit=limit, cursor=cursor)
    return CertificateListOut(certificates=[certificate_out(r) for r in page], next_cursor=next_cursor)


@router.post("/certificates", name="api:create-certificate", status_code=201, response_model=CertificateOut)
def create_certificate(
    payload: CertificateBody, db: SessionDep, caller: auth.CurrentCaller
) -> CertificateOut:
    """Add a certificate (supplier leads); the scheme rules are checked and every problem listed."""
    service.require_lead(caller.actor)
    today = clock.today()
    data = service.check(db, caller.actor.org_id, payload.draft(), today=today)
    row = service.create(db, caller, data, evidence_id=payload.evidence_id or None, via="api")
    db.commit()
    return certificate_out(service.row_for(db, row, today=today))


@router.get("/certificates/{certificate_id}", name="api:certificate", response_model=CertificateOut)
def show_certificate(certificate_id: str, db: SessionDep, caller: auth.CurrentCaller) -> CertificateOut:
    return certificate_out(service.view(db, caller, certificate_id, today=clock.today()))


@router.put(
    "/certificates/{certificate_id}",
    name="api:update-certificate",
    response_model=CertificateOut,
)
def update_certificate(
    certificate_id: str, payload: CertificateBody, db: SessionDep, caller: auth.CurrentCaller
) -> CertificateOut:
    """Change a certificate (supplier leads, their own register): the whole entry, checked as when
    added; a withdrawn certificate cannot change (422)."""
    row = service.certificate_to_manage(db, caller.actor, certificate_id, AuditAction.CERTIFICATE_UPDATED)
    today = clock.today()
    data = service.check(db, caller.actor.org_id, payload.draft(), today=today)
    row = service.update(db, caller, row, data, evidence_id=payload.evidence_id or None, via="api")
    db.commit()
    return certificate_out(service.row_for(db, row, today=today))


@router.post(
    "/certificates/{certificate_id}/withdraw", name="api:withdraw-certificate", response_model=CertificateOut
)
def withdraw_certificate(certificate_id: str, db: SessionDep, caller: auth.CurrentCaller) -> CertificateOut:
    """Withdraw a certificate (supplier leads): it stays on record and no longer meets a gate."""
    row = service.certificate_to_manage(db, caller.actor, certificate_id, AuditAction.CERTIFICATE_WITHDRAWN)
    row = service.withdraw(db, caller, row)
    db.commit()
    return certificate_out(service.row_for(db, row, today=clock.today()))


# --- sub-contractors --------------------------------------------------------------------------


@router.get("/subcontractors", name="api:subcontractors", response_model=SubcontractorListOut)
def list_subcontractors(
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    supplier_org_id: str = Query("", max_length=32, description="buyers: one supplier only"),
    limit: Limit = 100,
    cursor: Cursor = "",
) -> SubcontractorListOut:
    """Current sub-contractors of the suppliers whose register the caller may read, by name."""
    suppliers = service.visible_supplier_ids(db, principal.actor)
    if supplier_org_id:
        suppliers &= {supplier_org_id}
    found = [s for org_id in sorted(suppliers) for s in service.subcontractors(db, org_id)]
    page, next_cursor = paged(found, _subcontractor_key, like=("", ""), limit=limit, cursor=cursor)
    return SubcontractorListOut(subcontractors=[subcontractor_out(s) for s in page], next_cursor=next_cursor)


@router.post(
    "/subcontractors", name="api:add-subcontractor", status_code=201, response_model=SubcontractorOut
)
def add_subcontractor(
    payload: SubcontractorIn, db: SessionDep, caller: auth.CurrentCaller
) -> SubcontractorOut:
    """Add a sub-contractor to your organisation's list (supplier leads); names are unique."""
    row = service.add_subcontractor(db, caller, name=payload.name, tier=payload.tier)
    db.commit()
    return subcontractor_out(row)


@router.delete(
    "/subcontractors/{subcontractor_id}", name="api:remove-subcontractor", response_model=SubcontractorOut
)
def remove_subcontractor(
    subcontractor_id: str, db: SessionDep, caller: auth.CurrentCaller
) -> SubcontractorOut:
    """Take a sub-contractor off the list (supplier leads); its certificates stay on record."""
    row = service.subcontractor_to_manage(db, caller.actor, subcontractor_id)
    row = service.remove_subcontractor(db, caller, row)
    db.commit()
    return subcontractor_out(row)
