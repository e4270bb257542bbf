"""The one refusal. Every route and service that says no raises through here (or raises
`app.domain.errors.Refused`/`Denied` itself); the error handler (app.http.errors) writes exactly one
`denied` audit event for it in a short transaction of its own, after the request's own work rolled
back, and answers 404 "not found" (or 403 where the thing refused is public knowledge, such as a
page only advisors have)."""

from __future__ import annotations

from typing import NoReturn

from app.domain.errors import Denied, Refused


def refuse(
    action: str,
    *,
    object_type: str,
    object_id: str,
    engagement_id: str | None = None,
    public: bool = False,
    message: str | None = None,
) -> NoReturn:
    """Refuse `action` on this object: 404 as if it did not exist, or 403 when `public`."""
    text = message or f"No such {object_type.replace('_', ' ')}."
    if public:
        raise Denied(
            text,
            action=str(action),
            object_type=object_type,
            object_id=object_id,
            engagement_id=engagement_id,
        )
    raise Refused(
        text, action=str(action), object_type=object_type, object_id=object_id, engagement_id=engagement_id
    )


NOTHING_HERE = "There is nothing at this address."


def refuse_page(action: str, path: str) -> NoReturn:
    """Refuse a whole page the caller's role does not have: 404, audited, as if it did not exist."""
    refuse(action, object_type="page", object_id=path, message=NOTHING_HERE)
