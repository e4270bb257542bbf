"""The caller a use case acts for: who they are (for the access rule) and how what they do is
audited. Services take a `Caller`, apply the rule, record one `AuditAction` in the same
transaction as the change, and flush; the HTTP layer only commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.domain.access import Actor
from app.domain.audit import AuditAction
from app.models import AuditEvent
from app.services import audit


@dataclass(frozen=True, slots=True)
class Caller:
    actor: Actor
    who: audit.Who
    audit_key: bytes

    def record(
        self,
        session: Session,
        action: AuditAction,
        *,
        object_type: str = "",
        object_id: str = "",
        engagement_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Audit an allowed action in the caller's transaction (it commits with the change)."""
        return audit.record(
            session,
            self.audit_key,
            self.who,
            action,
            object_type=object_type,
            object_id=object_id,
            engagement_id=engagement_id,
            details=details,
        )
