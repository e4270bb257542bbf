"""Sign-in steps, server-side sessions, personal access tokens and throttling.

The use cases a signed-in person starts (`add_token`, `revoke_own_token`, `end_own_session`,
`sign_out`) take a `Caller`, apply the rule, record their one audit event and flush; the
building blocks below them (`create_token`, `revoke_token`, `end_session`...) record nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from app.adapters.crypto import new_token, sha256_hex, verify_password
from app.domain.audit import AuditAction
from app.domain.credentials import THROTTLE_WINDOW_SECONDS, ThrottleState
from app.domain.errors import InvalidInput, NotFound, Refused
from app.models import ApiToken, LoginAttempt, Organisation, User, WebSession
from app.services import audit
from app.services.caller import Caller

PENDING_MFA_MINUTES = 5
TOUCH_EVERY = timedelta(seconds=60)
MAX_TOKEN_DAYS = 366
THROTTLED = "Too many attempts. Wait 15 minutes and try again, or ask your administrator."


@dataclass(frozen=True, slots=True)
class Timeouts:
    idle: timedelta
    absolute: timedelta


def normalise_email(email: str) -> str:
    return email.strip().lower()


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def throttle_state(session: Session, *, email: str, address: str, now: datetime) -> ThrottleState:
    since = now - timedelta(seconds=THROTTLE_WINDOW_SECONDS)

    def count(key: str) -> int:
        query = (
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.key == key, col(LoginAttempt.at) >= since)
        )
        return int(session.exec(query).one())

    return ThrottleState(count(f"account:{normalise_email(email)}"), count(f"address:{address}"))


def record_failure(session: Session, *, email: str, address: str, now: datetime) -> None:
    session.add(LoginAttempt(key=f"account:{normalise_email(email)}", at=now))
    session.add(LoginAttempt(key=f"address:{address}", at=now))
    session.flush()


def forget_failures(session: Session, *, email: str, now: datetime) -> None:
    """After a full sign-in the account's failures no longer count (old ones expire anyway)."""
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.key) == f"account:{normalise_email(email)}"))
    session.execute(
        delete(LoginAttempt).where(col(LoginAttempt.at) < now - timedelta(seconds=THROTTLE_WINDOW_SECONDS))
    )


def check_password(session: Session, *, email: str, password: str) -> User | None:
    """The user if the password is right (always doing the same hashing work)."""
    user = session.exec(select(User).where(User.email == normalise_email(email))).first()
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user is not None else None


def start_session(
    session: Session,
    user: User,
    *,
    mfa_passed: bool,
    now: datetime,
    timeouts: Timeouts,
    address: str = "",
    user_agent: str = "",
) -> str:
    """A new session (a fresh random id: ids rotate at every sign-in step); returns the cookie value."""
    token = new_token("ses")
    lifetime = timeouts.absolute if mfa_passed else timedelta(minutes=PENDING_MFA_MINUTES)
    session.add(
        WebSession(
            token_hash=sha256_hex(token),
            user_id=user.id,
            mfa_passed=mfa_passed,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            address=address[:64],
            user_agent=user_agent[:300],
        )
    )
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: str
    user: User
    organisation: Organisation
    mfa_passed: bool
    needs_touch: bool


def find_session(session: Session, token: str, *, now: datetime, timeouts: Timeouts) -> SessionView | None:
    """The live session for a cookie value: not revoked, not expired, not idle too long."""
    row = session.exec(
        select(WebSession, User, Organisation)
        .join(User, col(User.id) == WebSession.user_id)
        .join(Organisation, col(Organisation.id) == User.organisation_id)
        .where(WebSession.token_hash == sha256_hex(token))
    ).first()
    if row is None:
        return None
    web, user, org = row
    if web.revoked_at is not None or user.disabled_at is not None:
        return None
    if aware(web.expires_at) <= now:
        return None
    idle_limit = timeouts.idle if web.mfa_passed else timedelta(minutes=PENDING_MFA_MINUTES)
    if aware(web.last_seen_at) + idle_limit <= now:
        return None
    return SessionView(web.id, user, org, web.mfa_passed, aware(web.last_seen_at) + TOUCH_EVERY <= now)


def touch_session(session: Session, session_id: str, *, now: datetime) -> None:
    session.execute(update(WebSession).where(col(WebSession.id) == session_id).values(last_seen_at=now))


def end_session(session: Session, session_id: str, *, now: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(col(WebSession.id) == session_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def live_sessions(session: Session, user_id: str, *, now: datetime) -> list[WebSession]:
    rows = session.exec(
        select(WebSession)
        .where(
            WebSession.user_id == user_id,
            col(WebSession.revoked_at).is_(None),
            col(WebSession.mfa_passed).is_(True),
            col(WebSession.expires_at) > now,
        )
        .order_by(col(WebSession.last_seen_at).desc())
    )
    return list(rows)


def own_session(session: Session, user_id: str, session_id: str) -> WebSession:
    web = session.get(WebSession, session_id)
    if web is None:
        raise NotFound("No such session.")
    if web.user_id != user_id:
        raise Refused("No such session.", action="session_ended", object_type="session", object_id=web.id)
    return web


def create_token(
    session: Session, user: User, *, name: str, expires_days: int | None, now: datetime
) -> tuple[ApiToken, str]:
    """A personal access token, shown once; only its hash is kept."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise InvalidInput("Give the token a name of 1 to 100 characters.", details={"field": "name"})
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(
            f"Expiry must be between 1 and {MAX_TOKEN_DAYS} days.",
            details={"field": "expires_days"},
        )
    token = new_token("att")
    row = ApiToken(
        user_id=user.id,
        name=name,
        prefix=token[:10],
        token_hash=sha256_hex(token),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(row)
    session.flush()
    return row, token


def user_tokens(session: Session, user_id: str) -> list[ApiToken]:
    return list(
        session.exec(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.created_at).desc())
        )
    )


def revoke_token(session: Session, user_id: str, token_id: str, *, now: datetime) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("No such token.")
    if row.user_id != user_id:
        raise Refused("No such token.", action="token_revoked", object_type="api_token", object_id=row.id)
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.flush()
    return row


def find_token_user(session: Session, token: str, *, now: datetime) -> tuple[User, Organisation] | None:
    row = session.exec(
        select(ApiToken, User, Organisation)
        .join(User, col(User.id) == ApiToken.user_id)
        .join(Organisation, col(Organisation.id) == User.organisation_id)
        .where(ApiToken.token_hash == sha256_hex(token))
    ).first()
    if row is None:
        return None
    api_token, user, org = row
    if api_token.revoked_at is not None or user.disabled_at is not None or not user.is_active:
        return None
    if api_token.expires_at is not None and aware(api_token.expires_at) <= now:
        return None
    return user, org


def refuse_sign_in(session: Session, key: bytes, who: audit.Who, user_id: str | None, **why: str) -> None:
    """Audit a refused sign-in step (outcome `denied`: a wrong credential or the throttle, not an
    authorisation refusal); the caller commits it with the failure count."""
    audit.record(
        session,
        key,
        who,
        AuditAction.SIGN_IN,
        outcome="denied",
        object_type="user" if user_id else "",
        object_id=user_id or "",
        details=why,
    )


def signed_in(session: Session, caller: Caller, *, method: str) -> None:
    """Audit a finished sign-in (password and second factor) of the caller."""
    caller.record(
        session,
        AuditAction.SIGN_IN,
        object_type="user",
        object_id=caller.actor.user_id,
        details={"method": method},
    )
    session.flush()


# --- use cases of the signed-in person -------------------------------------------------------


def add_token(
    session: Session, caller: Caller, user: User, *, name: str, expires_days: int | None, now: datetime
) -> tuple[ApiToken, str]:
    """A new personal access token of `user` (the caller's own), audited; shown once."""
    row, token = create_token(session, user, name=name, expires_days=expires_days, now=now)
    caller.record(session, AuditAction.TOKEN_CREATED, object_type="api_token", object_id=row.id)
    session.flush()
    return row, token


def revoke_own_token(session: Session, caller: Caller, token_id: str, *, now: datetime) -> ApiToken:
    """Revoke one of the caller's tokens; any other id is refused as "not found" (audited)."""
    try:
        row = revoke_token(session, caller.actor.user_id, token_id, now=now)
    except NotFound:
        raise Refused(
            "No such token.", action=AuditAction.TOKEN_REVOKED, object_type="api_token", object_id=token_id
        ) from None
    caller.record(session, AuditAction.TOKEN_REVOKED, object_type="api_token", object_id=token_id)
    session.flush()
    return row


def end_own_session(session: Session, caller: Caller, session_id: str, *, now: datetime) -> None:
    """End one of the caller's sessions; any other id is refused as "not found" (audited)."""
    try:
        own_session(session, caller.actor.user_id, session_id)
    except NotFound:
        raise Refused(
            "No such session.", action=AuditAction.SESSION_ENDED, object_type="session", object_id=session_id
        ) from None
    end_session(session, session_id, now=now)
    caller.record(session, AuditAction.SESSION_ENDED, object_type="session", object_id=session_id)
    session.flush()


def sign_out(session: Session, caller: Caller, session_id: str, *, now: datetime) -> None:
    """End the caller's current session."""
    end_session(session, session_id, now=now)
    caller.record(session, AuditAction.SIGN_OUT, object_type="user", object_id=caller.actor.user_id)
    session.flush()
