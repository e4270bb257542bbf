"""Expected outcomes that are not successes. They know nothing of HTTP.

`app.http.errors` maps each class to a status code in one place.
"""

from __future__ import annotations

from typing import Any


class AttestError(Exception):
    """Base of every expected failure: a machine code, a message for people, details."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(AttestError):
    """The object does not exist, or the caller may not know that it does."""

    code = "not_found"


class InvalidInput(AttestError):
    """The request is well-formed but its content breaks a rule."""

    code = "invalid"


class Conflict(AttestError):
    """The request clashes with the current state (duplicate, stale version, wrong state)."""

    code = "conflict"


class Forbidden(AttestError):
    """The caller is known but may not do this."""

    code = "forbidden"


class Unauthenticated(AttestError):
    """The caller has not signed in (or the token is not valid)."""

    code = "unauthenticated"


class PayloadTooLarge(AttestError):
    """The upload is bigger than the configured limit."""

    code = "too_large"


class UnsupportedType(AttestError):
    """The upload's real content is not on the allow-list."""

    code = "unsupported_media_type"


class Refusal(AttestError):
    """A refusal the HTTP layer records as a `denied` audit event before answering.

    Services raise it (as `Refused` or `Denied`) where the rule is applied; the one handler in
    `app.http.errors` writes the event in a short transaction of its own, because the request's
    transaction rolls back with the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str,
        object_type: str,
        object_id: str,
        engagement_id: str | None = None,
    ) -> None:
        super().__init__(message)  # no details: a refusal must read exactly like "not found"
        self.action = action
        self.object_type = object_type
        self.object_id = object_id
        self.engagement_id = engagement_id


class Refused(Refusal, NotFound):
    """The object exists but is not the caller's to reach (another tenant's or engagement's):
    answered exactly like `NotFound`, so nothing is revealed, and always audited."""


class Denied(Refusal, Forbidden):
    """The caller may not do this here: answered like `Forbidden`, and always audited."""
