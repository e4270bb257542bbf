"""Organisations, users, invitations, multi-factor enrolment and account state."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.domain.access import SUPPLIER_ROLES, Actor, Role, invitable_roles
from app.domain.credentials import password_problem
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import (
    ApiToken,
    Invitation,
    Organisation,
    OrgKind,
    RecoveryCode,
    User,
    WebSession,
    utcnow,
)
from app.security import (
    Keys,
    decrypt,
    encrypt,
    hash_password,
    keyed_hash,
    match_totp,
    new_recovery_codes,
    new_token,
    new_totp_secret,
    normalise_recovery_code,
    sha256_hex,
)

INVITATION_DAYS = 7
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
ROLE_ORG_KIND = {
    Role.SUPPLIER_LEAD: OrgKind.SUPPLIER,
    Role.SUPPLIER_CONTRIBUTOR: OrgKind.SUPPLIER,
    Role.BUYER_ADVISOR: OrgKind.BUYER,
    Role.ADMINISTRATOR: OrgKind.OPERATOR,
}


def create_organisation(session: Session, *, name: str, kind: str) -> Organisation:
    name = " ".join(name.split())
    if not 2 <= len(name) <= 200:
        raise InvalidInput("An organisation name needs 2 to 200 characters.", details={"field": "name"})
    try:
        org_kind = OrgKind(kind)
    except ValueError:
        raise InvalidInput("Kind must be buyer, supplier or operator.", details={"field": "kind"}) from None
    if session.exec(select(Organisation).where(Organisation.name == name)).first():
        raise Conflict(f"An organisation called {name!r} already exists.", details={"field": "name"})
    org = Organisation(name=name, kind=org_kind)
    session.add(org)
    session.flush()
    return org


def find_organisation(session: Session, ref: str) -> Organisation:
    """By id or exact name."""
    org = (
        session.get(Organisation, ref)
        or session.exec(select(Organisation).where(Organisation.name == ref)).first()
    )
    if org is None:
        raise NotFound(f"No organisation {ref!r}.")
    return org


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    organisation_id: str,
    role: str,
    by: Actor | None = None,
) -> User:
    """A new user of `organisation_id`; `by` (None for the command line) must be allowed to add them."""
    email = normalise_email(email)
    if not EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("Enter a valid email address.", details={"field": "email"})
    try:
        user_role = Role(role)
    except ValueError:
        raise InvalidInput(
            "Role must be supplier_lead, supplier_contributor, buyer_advisor or administrator.",
            details={"field": "role"},
        ) from None
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound("No such organisation.")
    if ROLE_ORG_KIND[user_role] != org.kind:
        raise InvalidInput(
            f"A {user_role.value} must belong to a {ROLE_ORG_KIND[user_role].value} organisation.",
            details={"field": "role"},
        )
    if by is not None:
        if user_role not in invitable_roles(by):
            raise Forbidden("You may not add people with that role.")
        if by.role is not Role.ADMINISTRATOR and by.org_id != org.id:
            raise NotFound("No such organisation.")
    display = " ".join(name.split()) or email.split("@")[0]
    user = User(email=email, name=display[:200], organisation_id=org.id, role=user_role)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("A user with that email address already exists.", details={"field": "email"}) from None
    return user


def issue_invitation(session: Session, *, user: User, by_user_id: str | None, now: datetime) -> str:
    """A one-time link token (7 days) to set the password and enrol MFA; older links stop working."""
    session.execute(
        update(Invitation)
        .where(col(Invitation.user_id) == user.id, col(Invitation.used_at).is_(None))
        .values(used_at=now)
    )
    token = new_token("inv")
    session.add(
        Invitation(
            user_id=user.id,
            token_hash=sha256_hex(token),
            created_by_id=by_user_id,
            created_at=now,
            expires_at=now + timedelta(days=INVITATION_DAYS),
        )
    )
    session.flush()
    return token


def open_invitation(session: Session, token: str, now: datetime) -> tuple[Invitation, User]:
    invitation = session.exec(select(Invitation).where(Invitation.token_hash == sha256_hex(token))).first()
    if invitation is None or invitation.used_at is not None or _aware(invitation.expires_at) <= now:
        raise NotFound("This invitation link is not valid: it was used, replaced or has expired.")
    user = session.get(User, invitation.user_id)
    if user is None or user.disabled_at is not None:
        raise NotFound("This invitation link is not valid.")
    return invitation, user


def set_password(session: Session, keys: Keys, user: User, password: str) -> str:
    """Set the password and (re)start MFA enrolment; returns the new TOTP secret."""
    problem = password_problem(password, user.email)
    if problem:
        raise InvalidInput(problem, details={"field": "password"})
    user.password_hash = hash_password(password)
    secret = new_totp_secret()
    user.totp_secret_encrypted = encrypt(keys.totp, secret)
    user.mfa_enrolled_at = None
    session.add(user)
    session.flush()
    return secret


def totp_secret(keys: Keys, user: User) -> str:
    if not user.totp_secret_encrypted:
        raise InvalidInput("Multi-factor authentication is not set up for this account.")
    return decrypt(keys.totp, user.totp_secret_encrypted)


def confirm_mfa(
    session: Session,
    keys: Keys,
    user: User,
    code: str,
    *,
    now: datetime,
    unix_time: float | None = None,
) -> list[str]:
    """Finish enrolment with a first valid code; returns the recovery codes (shown once)."""
    step = match_totp(totp_secret(keys, user), code, unix_time or time.time(), user.totp_last_step)
    if step is None:
        raise InvalidInput(
            "That code is not right. Enter the 6-digit code your authenticator app shows now.",
            details={"field": "code"},
        )
    user.totp_last_step = step
    user.mfa_enrolled_at = now
    session.add(user)
    return replace_recovery_codes(session, keys, user)


def replace_recovery_codes(session: Session, keys: Keys, user: User) -> list[str]:
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = new_recovery_codes()
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=keyed_hash(keys.recovery, code)))
    session.flush()
    return codes


def check_second_factor(
    session: Session,
    keys: Keys,
    user: User,
    code: str,
    *,
    now: datetime,
    unix_time: float | None = None,
) -> str | None:
    """'totp' or 'recovery' when `code` is a fresh TOTP code or an unused recovery code."""
    if user.totp_secret_encrypted and user.mfa_enrolled_at:
        step = match_totp(totp_secret(keys, user), code, unix_time or time.time(), user.totp_last_step)
        if step is not None:
            # Conditional update: of two concurrent uses of one code, only one wins.
            won = session.execute(
                update(User)
                .where(col(User.id) == user.id, col(User.totp_last_step) < step)
                .values(totp_last_step=step)
            )
            if won.rowcount == 1:  # type: ignore[attr-defined]
                return "totp"
            return None
    digest = keyed_hash(keys.recovery, normalise_recovery_code(code))
    used = session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == digest,
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return "recovery" if used.rowcount == 1 else None  # type: ignore[attr-defined]


def enrol_for_script(session: Session, keys: Keys, user: User, password: str, *, now: datetime) -> str:
    """Command-line shortcut: set the password and enrol MFA at once; returns the TOTP secret."""
    secret = set_password(session, keys, user, password)
    user.mfa_enrolled_at = now
    session.add(user)
    replace_recovery_codes(session, keys, user)
    return secret


def find_user(session: Session, ref: str) -> User:
    user = (
        session.get(User, ref) or session.exec(select(User).where(User.email == normalise_email(ref))).first()
    )
    if user is None:
        raise NotFound(f"No user {ref!r}.")
    return user


def disable_user(session: Session, user: User, *, now: datetime) -> None:
    """Disable the account and end every session and token it has, at once."""
    user.disabled_at = now
    session.add(user)
    end_all_sessions(session, user.id, now=now)
    session.execute(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.flush()


def enable_user(session: Session, user: User) -> None:
    user.disabled_at = None
    session.add(user)
    session.flush()


def end_all_sessions(session: Session, user_id: str, *, now: datetime) -> int:
    result = session.execute(
        update(WebSession)
        .where(col(WebSession.user_id) == user_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def visible_users(session: Session, actor: Actor) -> list[User]:
    query = select(User).order_by(col(User.email))
    if actor.role is not Role.ADMINISTRATOR:
        query = query.where(User.organisation_id == actor.org_id)
    return list(session.exec(query))


def manageable_user(session: Session, actor: Actor, user_id: str) -> User:
    """A user `actor` may manage: administrators anyone, leads their own supplier team."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    if actor.role is Role.ADMINISTRATOR:
        return user
    if (
        actor.role is Role.SUPPLIER_LEAD
        and user.organisation_id == actor.org_id
        and user.role in SUPPLIER_ROLES
    ):
        return user
    raise NotFound("No such user.")


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now_utc() -> datetime:
    return utcnow()
