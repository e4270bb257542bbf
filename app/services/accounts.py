"""Organisations, users, invitations, multi-factor enrolment and account state.

Use cases (`add_organisation`, `add_user`, `issue_link`, `disable`, `enable`, `change_password`,
`renew_recovery_codes`, `sign_out_everywhere`) take a `Caller`, apply the rule, record their
audit event and flush; the command line calls them with the operator's caller
(`app.cli.common.operator`). The building blocks they use (`create_organisation`,
`create_user`, `disable_user`...) record nothing."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.adapters.crypto import (
    Keys,
    UndecryptableSecret,
    encrypt,
    hash_password,
    keyed_hash,
    match_totp,
    new_recovery_codes,
    new_token,
    new_totp_secret,
    normalise_recovery_code,
    open_sealed,
    sha256_hex,
    verify_password,
)
from app.adapters.mail import Message
from app.config import Settings
from app.domain.access import SUPPLIER_ROLES, Action, Actor, Role, can, invitable_roles
from app.domain.audit import AuditAction
from app.domain.credentials import password_problem
from app.domain.errors import Conflict, Denied, InvalidInput, NotFound, Refused
from app.models import (
    ApiToken,
    Invitation,
    Organisation,
    OrgKind,
    RecoveryCode,
    User,
    WebSession,
)
from app.services import account_notices as notices
from app.services import audit
from app.services.caller import Caller
from app.services.sessions import THROTTLED, normalise_email, record_failure, throttle_state

log = logging.getLogger("attest.accounts")

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


def add_organisation(session: Session, caller: Caller, *, name: str, kind: str) -> Organisation:
    """A new organisation (administrators, and the operator at the command line), audited."""
    if not can(caller.actor, Action.MANAGE_ORGANISATIONS):
        raise Denied(
            "Only administrators add organisations.",
            action=Action.MANAGE_ORGANISATIONS.value,
            object_type="organisation",
            object_id="",
        )
    org = create_organisation(session, name=name, kind=kind)
    caller.record(session, AuditAction.ORGANISATION_CREATED, object_type="organisation", object_id=org.id)
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
            raise Denied(
                "You may not add people with that role.",
                action=Action.INVITE_TEAM.value,
                object_type="organisation",
                object_id=org.id,
            )
        if by.role is not Role.ADMINISTRATOR and by.org_id != org.id:
            raise Refused(
                "No such organisation.",
                action=Action.INVITE_TEAM.value,
                object_type="organisation",
                object_id=org.id,
            )
    display = " ".join(name.split()) or email.split("@")[0]
    user = User(email=email, name=display[:200], organisation_id=org.id, role=user_role)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("A user with that email address already exists.", details={"field": "email"}) from None
    return user


def add_user(
    session: Session, caller: Caller, *, email: str, name: str, organisation_id: str, role: str
) -> User:
    """A new user, if the caller may add them (administrators anyone, leads their own team), audited.
    Send them their invitation with `issue_link`."""
    user = create_user(
        session, email=email, name=name, organisation_id=organisation_id, role=role, by=caller.actor
    )
    caller.record(session, AuditAction.USER_CREATED, object_type="user", object_id=user.id)
    session.flush()
    return user


def has_credentials(user: User) -> bool:
    """A password, a key or a finished enrolment: a new link for this account is a reset."""
    return bool(user.password_hash or user.totp_secret_encrypted or user.mfa_enrolled_at)


@dataclass(frozen=True, slots=True)
class Issued:
    """A link mailed to the account. `link` is set only for an account never enrolled (the
    command line may print it); `page_link` only when, besides, mail is off."""

    purpose: str  # "invite" or "reset"
    mails: list[Message]
    link: str | None = None
    page_link: str | None = None


def issue_link(session: Session, caller: Caller, settings: Settings, *, user: User, now: datetime) -> Issued:
    """A one-time link (7 days) for the account's own mailbox; older links stop working.

    For an account that has credentials it is a reset: audited with the requester as actor, the
    account and its organisation's leads or advisors are told, and the link never comes back to
    the caller. Returns the mails to send once the caller has committed. The caller is a person
    who may manage `user` (see `managed_user`) or the operator at the command line."""
    by = session.get(User, caller.actor.user_id) if caller.actor.user_id else None
    if user.disabled_at is not None:
        raise InvalidInput("Enable the account before sending it a link.", details={"field": "email"})
    purpose = "reset" if has_credentials(user) else "invite"
    session.execute(
        update(Invitation)
        .where(col(Invitation.user_id) == user.id, col(Invitation.used_at).is_(None))
        .values(used_at=now, pending_password_hash=None, pending_totp_secret_encrypted=None)
    )
    token = new_token("inv")
    invitation = Invitation(
        user_id=user.id,
        token_hash=sha256_hex(token),
        created_by_id=by.id if by else None,
        created_at=now,
        expires_at=now + timedelta(days=INVITATION_DAYS),
        purpose=purpose,
    )
    session.add(invitation)
    session.flush()
    link = notices.invitation_link(settings, token)
    by_name = by.name if by else "An Attest operator"
    if purpose == "reset":
        mails = [
            notices.reset_mail(settings, user, link=link, by_name=by_name, expires_at=invitation.expires_at)
        ]
        mails += notices.tell_of_reset(session, settings, user, by=by, finished=False)
        caller.record(session, AuditAction.ACCOUNT_RESET_REQUESTED, object_type="user", object_id=user.id)
        session.flush()
        return Issued(purpose, mails)
    mail = notices.invitation_mail(
        settings, user, link=link, by_name=by_name, expires_at=invitation.expires_at
    )
    caller.record(
        session,
        AuditAction.USER_INVITED,
        object_type="user",
        object_id=user.id,
        details={"role": user.role.value},
    )
    session.flush()
    return Issued(purpose, [mail], link, link if notices.mail_is_off(settings) else None)


def _audit(
    session: Session,
    key: bytes,
    who: audit.Who,
    user: User,
    action: AuditAction,
    *,
    outcome: str = "allowed",
    details: dict[str, Any] | None = None,
) -> None:
    """An account event of a flow with no signed-in caller (an invitation link), or a refused
    credential (outcome `denied`: not an authorisation refusal, it counts towards the throttle)."""
    audit.record(
        session, key, who, action, outcome=outcome, object_type="user", object_id=user.id, details=details
    )


def open_invitation(session: Session, token: str, now: datetime) -> tuple[Invitation, User]:
    invitation = session.exec(select(Invitation).where(Invitation.token_hash == sha256_hex(token))).first()
    if invitation is None or invitation.used_at is not None or _aware(invitation.expires_at) <= now:
        raise NotFound("This invitation link is not valid: it was used, replaced or has expired.")
    user = session.get(User, invitation.user_id)
    if user is None or user.disabled_at is not None:
        raise NotFound("This invitation link is not valid.")
    if invitation.purpose != "reset" and has_credentials(user):
        raise NotFound("This invitation link is not valid: the account is set up already.")
    return invitation, user


def choose_password(
    session: Session, keys: Keys, invitation: Invitation, user: User, *, password: str, confirm: str
) -> str:
    """Step 1 of a link: the new password and a freshly generated key wait on the invitation
    (the account keeps its own until step 2 confirms the key). Returns the new key."""
    if password != confirm:
        raise InvalidInput("The two passwords are not the same.", details={"field": "confirm"})
    problem = password_problem(password, user.email)
    if problem:
        raise InvalidInput(problem, details={"field": "password"})
    if user.password_hash and verify_password(user.password_hash, password):
        raise InvalidInput(
            "Choose a new password, not the one the account has now.", details={"field": "password"}
        )
    secret = new_totp_secret()
    invitation.pending_password_hash = hash_password(password)
    invitation.pending_totp_secret_encrypted = encrypt(keys.totp, secret)
    session.add(invitation)
    session.flush()
    return secret


def pending_secret(keys: Keys, invitation: Invitation) -> str | None:
    """The key chosen at step 1 of this link (never the account's current one)."""
    encrypted = invitation.pending_totp_secret_encrypted
    if not (encrypted and invitation.pending_password_hash):
        return None
    try:
        return open_sealed(keys.totp_keys, encrypted)[0]
    except UndecryptableSecret as error:
        log.error("invitation %s: %s", invitation.id, error)
        return None  # the person chooses their password again, which seals a new key


@dataclass(frozen=True, slots=True)
class Completed:
    purpose: str
    codes: list[str]  # recovery codes, shown once
    mails: list[Message]


def complete_invitation(
    session: Session,
    keys: Keys,
    settings: Settings,
    invitation: Invitation,
    user: User,
    code: str,
    *,
    who: audit.Who,
    now: datetime,
    unix_time: float | None = None,
) -> Completed:
    """Step 2: a code from the new key makes the new password and key the account's, once.
    Every session and token the account had ends (a reset replaces every credential)."""
    secret = pending_secret(keys, invitation)
    if secret is None or invitation.pending_password_hash is None:
        raise InvalidInput("Choose your new password first.", details={"field": "password"})
    step = match_totp(secret, code, unix_time or time.time(), 0)
    if step is None:
        raise InvalidInput(
            "That code is not right. Enter the 6-digit code your authenticator app shows now.",
            details={"field": "code"},
        )
    password_hash, secret_encrypted = (
        invitation.pending_password_hash,
        invitation.pending_totp_secret_encrypted,
    )
    # Conditional: of two submissions of one link, only one completes it.
    claimed = session.execute(
        update(Invitation)
        .where(col(Invitation.id) == invitation.id, col(Invitation.used_at).is_(None))
        .values(used_at=now, pending_password_hash=None, pending_totp_secret_encrypted=None)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("This invitation link is not valid: it was used, replaced or has expired.")
    user.password_hash, user.totp_secret_encrypted = password_hash, secret_encrypted
    user.totp_last_step, user.mfa_enrolled_at = step, now
    session.add(user)
    codes = replace_recovery_codes(session, keys, user)
    ended = end_all_sessions(session, user.id, now=now)
    revoked = revoke_all_tokens(session, user.id, now=now)
    if invitation.purpose != "reset":
        _audit(session, keys.audit, who, user, AuditAction.MFA_ENROLLED)
        return Completed(invitation.purpose, codes, [])
    details = {"requested_by": invitation.created_by_id, "sessions_ended": ended, "tokens_revoked": revoked}
    _audit(session, keys.audit, who, user, AuditAction.ACCOUNT_RESET_COMPLETED, details=details)
    requester = session.get(User, invitation.created_by_id) if invitation.created_by_id else None
    mails = notices.tell_of_reset(session, settings, user, by=requester, finished=True)
    return Completed(invitation.purpose, codes, mails)


class WrongCredentials(InvalidInput):
    """The current password or code was not right (audited as denied; counts towards the throttle)."""


class Throttled(InvalidInput):
    """Too many wrong attempts from this account or address lately (audited as denied)."""


def change_password(
    session: Session,
    keys: Keys,
    caller: Caller,
    user: User,
    *,
    current_password: str,
    code: str,
    new_password: str,
    confirm: str,
    keep_session_id: str | None,
    now: datetime,
    unix_time: float | None = None,
) -> int:
    """A new password, given the current one and a current code; every other session ends.
    The code is checked (and spent) last, so a mistyped new password costs no code. A wrong
    password or code is audited as denied and counted towards the sign-in throttle of the
    account and the caller's address (which, when blocked, refuses at once); the caller
    commits those too."""
    who, key = caller.who, caller.audit_key
    if throttle_state(session, email=user.email, address=who.address, now=now).blocked:
        _audit(
            session,
            key,
            who,
            user,
            AuditAction.PASSWORD_CHANGED,
            outcome="denied",
            details={"reason": "throttled"},
        )
        raise Throttled(THROTTLED, details={"field": "current_password"})
    if new_password != confirm:
        raise InvalidInput("The two new passwords are not the same.", details={"field": "confirm_password"})
    problem = password_problem(new_password, user.email)
    if problem:
        raise InvalidInput(problem, details={"field": "new_password"})
    if not verify_password(user.password_hash, current_password):
        _audit(
            session,
            key,
            who,
            user,
            AuditAction.PASSWORD_CHANGED,
            outcome="denied",
            details={"step": "password"},
        )
        _count_failure(session, user, who, now)
        raise WrongCredentials("Your current password is not right.", details={"field": "current_password"})
    if verify_password(user.password_hash, new_password):
        raise InvalidInput(
            "The new password must differ from the current one.", details={"field": "new_password"}
        )
    method = check_second_factor(session, keys, user, code, now=now, unix_time=unix_time)
    if method is None:
        _audit(
            session, key, who, user, AuditAction.PASSWORD_CHANGED, outcome="denied", details={"step": "code"}
        )
        _count_failure(session, user, who, now)
        raise WrongCredentials(
            "That code is not right, or was already used. Enter the newest code from your app.",
            details={"field": "code"},
        )
    user.password_hash = hash_password(new_password)
    session.add(user)
    ended = end_all_sessions(session, user.id, now=now, keep=keep_session_id)
    caller.record(
        session,
        AuditAction.PASSWORD_CHANGED,
        object_type="user",
        object_id=user.id,
        details={"method": method, "sessions_ended": ended},
    )
    session.flush()
    return ended


def _count_failure(session: Session, user: User, who: audit.Who, now: datetime) -> None:
    record_failure(session, email=user.email, address=who.address, now=now)


def renew_recovery_codes(session: Session, keys: Keys, caller: Caller, user: User) -> list[str]:
    """New recovery codes for the caller's own account (the old ones stop working), shown once."""
    codes = replace_recovery_codes(session, keys, user)
    caller.record(session, AuditAction.RECOVERY_CODES_REPLACED, object_type="user", object_id=user.id)
    session.flush()
    return codes


def sign_out_everywhere(session: Session, caller: Caller, *, now: datetime) -> int:
    """End every session of the caller's account, this one included; returns how many."""
    count = end_all_sessions(session, caller.actor.user_id, now=now)
    caller.record(
        session,
        AuditAction.SIGNED_OUT_EVERYWHERE,
        object_type="user",
        object_id=caller.actor.user_id,
        details={"sessions": count},
    )
    session.flush()
    return count


def set_password(session: Session, keys: Keys, user: User, password: str) -> str:
    """Set the password and a new TOTP key at once (the command line's scripted enrolment)."""
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
    """The account's TOTP key, opened with the current secret key or a previous one;
    UndecryptableSecret when neither opens it."""
    return sealed_totp_secret(keys, user)[0]


def sealed_totp_secret(keys: Keys, user: User) -> tuple[str, bool]:
    """The account's TOTP key and whether it is sealed under the current secret key."""
    if not user.totp_secret_encrypted:
        raise InvalidInput("Multi-factor authentication is not set up for this account.")
    secret, index = open_sealed(keys.totp_keys, user.totp_secret_encrypted)
    return secret, index == 0


@dataclass(slots=True)
class Resealed:
    """What one pass of `reseal_totp_keys` found, by stored TOTP key (accounts' and invitations')."""

    resealed: int = 0  # opened with a previous secret key and sealed again under the current one
    current: int = 0  # already under the current secret key
    unreadable: list[str] = field(default_factory=list)  # ids no key opens ("invitation:<id>" for those)
    last_id: str = ""  # where the next batch starts ("" : there is none)


def reseal_totp_keys(session: Session, keys: Keys, *, after: str = "", limit: int = 200) -> Resealed:
    """Seal every stored TOTP key that opens only with a previous secret key again under the
    current one: up to `limit` accounts with an id after `after`, in the caller's transaction
    (the command line commits one batch at a time). Idempotent: a key under the current secret
    is left as it is. Conditional on the stored value, so a key changed meanwhile (a new
    enrolment) is never overwritten. Recovery codes are one-way hashes and cannot be re-hashed:
    they keep verifying under their previous key (Keys.recovery_keys) until they are renewed."""
    done = Resealed()
    query = (
        select(User.id, User.totp_secret_encrypted)
        .where(col(User.totp_secret_encrypted).is_not(None), col(User.id) > after)
        .order_by(col(User.id))
        .limit(limit)
    )
    for user_id, sealed in session.exec(query).all():
        done.last_id = user_id
        new = _resealed(keys, sealed or "", user_id, done)
        if new is not None:
            session.execute(
                update(User)
                .where(col(User.id) == user_id, col(User.totp_secret_encrypted) == sealed)
                .values(totp_secret_encrypted=new)
            )
    session.flush()
    return done


def reseal_pending_totp_keys(session: Session, keys: Keys) -> Resealed:
    """The same for the keys waiting on unused invitations (step 1 done, step 2 not yet)."""
    done = Resealed()
    query = select(Invitation.id, Invitation.pending_totp_secret_encrypted).where(
        col(Invitation.pending_totp_secret_encrypted).is_not(None), col(Invitation.used_at).is_(None)
    )
    for invitation_id, sealed in session.exec(query).all():
        new = _resealed(keys, sealed or "", f"invitation:{invitation_id}", done)
        if new is not None:
            session.execute(
                update(Invitation)
                .where(
                    col(Invitation.id) == invitation_id,
                    col(Invitation.pending_totp_secret_encrypted) == sealed,
                )
                .values(pending_totp_secret_encrypted=new)
            )
    session.flush()
    return done


def _resealed(keys: Keys, sealed: str, name: str, done: Resealed) -> str | None:
    """`sealed` sealed again under the current key, or None when it need not (or cannot) be."""
    try:
        secret, index = open_sealed(keys.totp_keys, sealed)
    except UndecryptableSecret:
        done.unreadable.append(name)
        return None
    if index == 0:
        done.current += 1
        return None
    done.resealed += 1
    return encrypt(keys.totp, secret)


def unused_recovery_codes(session: Session) -> int:
    """How many recovery codes are still unused (each hashed under the key current when it was made)."""
    query = select(func.count()).select_from(RecoveryCode).where(col(RecoveryCode.used_at).is_(None))
    return int(session.exec(query).one())


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
    """'totp' or 'recovery' when `code` is a fresh TOTP code or an unused recovery code.

    A TOTP key sealed under a previous secret key (ATTEST_PREVIOUS_SECRET_KEYS) still works, and
    the code that proves it seals it again under the current key, in the caller's transaction.
    One that no key opens is logged (an operator error: a secret key was dropped too soon) and
    its codes are refused like wrong ones; recovery codes still work then if their key is kept."""
    if user.totp_secret_encrypted and user.mfa_enrolled_at:
        try:
            secret, current = sealed_totp_secret(keys, user)
        except UndecryptableSecret as error:
            log.error("user %s cannot sign in with their authenticator app: %s", user.id, error)
        else:
            step = match_totp(secret, code, unix_time or time.time(), user.totp_last_step)
            if step is not None:
                values: dict[str, Any] = {"totp_last_step": step}
                if not current:
                    values["totp_secret_encrypted"] = encrypt(keys.totp, secret)
                # Conditional update: of two concurrent uses of one code, only one wins.
                won = session.execute(
                    update(User)
                    .where(col(User.id) == user.id, col(User.totp_last_step) < step)
                    .values(**values)
                )
                if won.rowcount == 1:  # type: ignore[attr-defined]
                    if not current:
                        session.refresh(user)  # the object shows the newly sealed key
                    return "totp"
                return None
    # Recovery codes are one-way hashes: they cannot be re-hashed under a new key, so each
    # verifies under the key it was made with for as long as that key is kept.
    digests = [keyed_hash(key, normalise_recovery_code(code)) for key in keys.recovery_keys]
    used = session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash).in_(digests),
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
    revoke_all_tokens(session, user.id, now=now)
    session.flush()


def enable_user(session: Session, user: User) -> None:
    user.disabled_at = None
    session.add(user)
    session.flush()


def disable(session: Session, caller: Caller, user: User, *, now: datetime) -> None:
    """Disable a user the caller manages (never the caller's own account), audited."""
    if user.id == caller.actor.user_id:
        raise InvalidInput("You cannot disable your own account.", details={"field": "email"})
    disable_user(session, user, now=now)
    caller.record(session, AuditAction.USER_DISABLED, object_type="user", object_id=user.id)
    session.flush()


def enable(session: Session, caller: Caller, user: User) -> None:
    """Enable a user the caller manages again, audited."""
    enable_user(session, user)
    caller.record(session, AuditAction.USER_ENABLED, object_type="user", object_id=user.id)
    session.flush()


def end_all_sessions(session: Session, user_id: str, *, now: datetime, keep: str | None = None) -> int:
    """End the account's live sessions (all but `keep`, the caller's own); returns how many."""
    query = update(WebSession).where(col(WebSession.user_id) == user_id, col(WebSession.revoked_at).is_(None))
    if keep:
        query = query.where(col(WebSession.id) != keep)
    result = session.execute(query.values(revoked_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]


def revoke_all_tokens(session: Session, user_id: str, *, now: datetime) -> int:
    result = session.execute(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def organisations(session: Session) -> list[Organisation]:
    """Every organisation, by name (the administrator's lists)."""
    return list(session.exec(select(Organisation).order_by(col(Organisation.name))))


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


def managed_user(session: Session, caller: Caller, user_id: str, action: AuditAction) -> User:
    """`manageable_user`, refusing (as "not found", audited as `action`) anyone else."""
    try:
        return manageable_user(session, caller.actor, user_id)
    except NotFound:
        raise Refused("No such user.", action=action, object_type="user", object_id=user_id) from None


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
