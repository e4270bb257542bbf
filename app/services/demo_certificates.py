"""Demo data for the certificate register: the demo supplier's certificates and sub-contractors,
with one expired certificate so that the portfolio and the readiness gate show a named blocker."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, select

from app.domain.certificates import Scheme, Tier, default_expiry
from app.models import Certificate, Subcontractor


def demo_certificates(session: Session, supplier_org_id: str, today: date) -> int:
    """The demo supplier's register, once: current ISO/IEC 27001 (surveillance due soon), CE Plus and
    IT Health Check; a Higher Risk Sub-contractor whose CE Plus has expired (a named blocker) and a
    Medium Risk one with Cyber Essentials."""
    if session.exec(select(Certificate.id).where(Certificate.supplier_org_id == supplier_org_id)).first():
        return 0
    hosting = Subcontractor(
        supplier_org_id=supplier_org_id, name="Harbour Cloud Hosting Ltd", tier=Tier.HIGHER_RISK
    )
    printing = Subcontractor(
        supplier_org_id=supplier_org_id, name="Minster Print and Post Ltd", tier=Tier.MEDIUM_RISK
    )
    session.add_all([hosting, printing])
    session.flush()
    rows: list[tuple[Scheme, str | None, str, int, int | None, dict[str, Any]]] = [
        # scheme, holder, body, issued days ago, expires in days (None: scheme default), extra
        (
            Scheme.ISO27001,
            None,
            "BSI (UKAS 0003)",
            1075,
            20,
            {"recertification_on": today + timedelta(days=10)},
        ),
        (Scheme.CYBER_ESSENTIALS, None, "IASME Consortium", 70, None, {}),
        (Scheme.CYBER_ESSENTIALS_PLUS, None, "IASME Consortium", 60, None, {}),
        (Scheme.IT_HEALTH_CHECK, None, "Redcliffe Security (CREST)", 120, None, {"provider": "CREST"}),
        (Scheme.CYBER_ESSENTIALS_PLUS, hosting.id, "IASME Consortium", 375, -10, {}),
        (Scheme.CYBER_ESSENTIALS, printing.id, "IASME Consortium", 300, None, {}),
    ]
    for number, (scheme, holder, body, ago, expires_in, extra) in enumerate(rows, start=1):
        issued = today - timedelta(days=ago)
        session.add(
            Certificate(
                supplier_org_id=supplier_org_id,
                subcontractor_id=holder,
                scheme=scheme,
                body=body,
                number=f"DEMO-{number:04d}",
                scope="All systems used to deliver the Secure Multimedia Transfer service.",
                issued_on=issued,
                expires_on=today + timedelta(days=expires_in)
                if expires_in is not None
                else default_expiry(scheme, issued),
                created_by_id="demo",
                **extra,
            )
        )
    session.flush()
    return len(rows) + 2
