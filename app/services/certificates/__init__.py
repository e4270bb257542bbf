"""The certificate register (Schedule 2.4 paras 4.2(a), 6; CPS Security Policy 1.5, 1.6), one concern
per module:

- `access`: who may read and change a supplier's register, and the load-or-refuse loaders;
- `subcontractors`: the supplier's sub-contractors with their risk tier (the holders);
- `entries`: a typed-in certificate checked against the scheme rules;
- `actions`: the use cases that change the register (add, change, withdraw) and read one;
- `register`: the register as rows with holder and state, and the certificate preconditions it
  meets or leaves open for each engagement (app.domain.gates);
- `portfolio`: the buyer advisor's view across their suppliers: certificates, and every
  engagement at a glance (readiness and its trend, plan, next deadline, blockers).

The names below are the package's public face; callers import them from here.
"""

from app.services.certificates.access import (
    certificate_to_manage,
    certificate_to_read,
    managed,
    may_manage,
    readable,
    require_lead,
    subcontractor_to_manage,
    visible_supplier_ids,
)
from app.services.certificates.actions import CertificateFile, create, update, view, withdraw
from app.services.certificates.entries import SUPPLIER_HOLDER, CertificateDraft, CertificateInput, check
from app.services.certificates.glance import Glance, PortfolioPage, Summaries, glance
from app.services.certificates.glance import store as store_summaries
from app.services.certificates.portfolio import (
    PAGE_SIZE,
    Portfolio,
    PortfolioLine,
    SupplierPortfolio,
    portfolio,
)
from app.services.certificates.register import (
    Row,
    SupplierBlocker,
    blockers_for_supplier,
    certificate_blockers,
    certificate_outcome,
    held_of,
    register_facts,
    row_for,
    rows,
)
from app.services.certificates.subcontractors import (
    add_subcontractor,
    holders,
    remove_subcontractor,
    subcontractors,
)

__all__ = [
    "PAGE_SIZE",
    "SUPPLIER_HOLDER",
    "CertificateDraft",
    "CertificateFile",
    "CertificateInput",
    "Glance",
    "Portfolio",
    "PortfolioLine",
    "PortfolioPage",
    "Row",
    "Summaries",
    "SupplierBlocker",
    "SupplierPortfolio",
    "add_subcontractor",
    "blockers_for_supplier",
    "certificate_blockers",
    "certificate_outcome",
    "certificate_to_manage",
    "certificate_to_read",
    "check",
    "create",
    "glance",
    "held_of",
    "holders",
    "managed",
    "may_manage",
    "portfolio",
    "readable",
    "register_facts",
    "remove_subcontractor",
    "require_lead",
    "row_for",
    "rows",
    "store_summaries",
    "subcontractor_to_manage",
    "subcontractors",
    "update",
    "view",
    "visible_supplier_ids",
    "withdraw",
]
