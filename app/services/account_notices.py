"""What people are told about their accounts: the invitation and reset mails, and the notices
(in-app notification and mail) to an account and its organisation's leads when it is reset.

Messages are built here and sent by the caller after its commit, so a link never arrives
before it works and a failed commit sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from app.adapters.mail import Mailer, Message, absolute, render
from app.config import Settings
from app.domain.access import Role
from app.domain.dates import london_text
from app.models import Notification, Organisation, OrgKind, User

log = logging.getLogger("attest.accounts")
CATEGORY = "account"
INVITATION_PATH = "/invitations/{token}"
# Who answers for an organisation's people: its leads, its advisors, the other administrators.
WATCHER_ROLE = {
    OrgKind.SUPPLIER: Role.SUPPLIER_LEAD,
    OrgKind.BUYER: Role.BUYER_ADVISOR,
    OrgKind.OPERATOR: Role.ADMINISTRATOR,
}


def mail_is_off(settings: Settings) -> bool:
    """The console mailer delivers nothing (it prints to the server's log): development only,
    production refuses it. Only then may a page show a new account's link."""
    return settings.mail_backend == "console"


def invitation_link(settings: Settings, token: str) -> str:
    return absolute(settings, INVITATION_PATH.format(token=token))


def watchers(session: Session, user: User, *, besides: Iterable[str | None] = ()) -> list[User]:
    """The active leads (supplier), advisors (buyer) or administrators (operator) of `user`'s
    organisation, other than `user` and `besides`."""
    org = session.get(Organisation, user.organisation_id)
    if org is None:
        return []
    skip = {user.id, *(b for b in besides if b)}
    query = select(User).where(
        User.organisation_id == org.id,
        User.role == WATCHER_ROLE[org.kind],
        col(User.disabled_at).is_(None),
    )
    return [u for u in session.exec(query.order_by(col(User.email))) if u.id not in skip]


def invitation_mail(
    settings: Settings, user: User, *, link: str, by_name: str, expires_at: datetime
) -> Message:
    return render(
        "invitation",
        settings,
        to=user.email,
        subject="Your Attest account: set your password",
        name=user.name,
        link=link,
        by_name=by_name,
        expires=london_text(expires_at),
    )


def reset_mail(settings: Settings, user: User, *, link: str, by_name: str, expires_at: datetime) -> Message:
    return render(
        "account_reset",
        settings,
        to=user.email,
        subject="Your Attest account: reset your password and authenticator app",
        kind="link",
        name=user.name,
        link=link,
        by_name=by_name,
        expires=london_text(expires_at),
    )


def tell_of_reset(
    session: Session,
    settings: Settings,
    user: User,
    *,
    by: User | None,
    finished: bool,
) -> list[Message]:
    """Notify `user` and their organisation's watchers of a reset requested (`finished` False)
    or completed; returns the mails to send (the account's own link mail is separate)."""
    by_name = by.name if by else "an operator on the command line"
    if finished:
        own = "Your account was reset: a new password and authenticator app; every other sign-in ended."
        other = f"The account of {user.name} ({user.email}) was reset; its sessions and tokens ended."
    else:
        own = f"{by_name} asked for a reset of your account; the link was emailed to you."
        other = f"{by_name} asked for a reset of the account of {user.name} ({user.email})."
    mails: list[Message] = []
    session.add(Notification(user_id=user.id, category=CATEGORY, subject=own[:300], link="/account"))
    if finished:
        mails.append(_notice(settings, user, own, finished=True, about=user))
    for watcher in watchers(session, user, besides=[by.id if by else None]):
        link = "/admin/users" if watcher.role in {Role.SUPPLIER_LEAD, Role.ADMINISTRATOR} else "/"
        session.add(Notification(user_id=watcher.id, category=CATEGORY, subject=other[:300], link=link))
        mails.append(_notice(settings, watcher, other, finished=finished, about=user))
    session.flush()
    return mails


def _notice(settings: Settings, to: User, text: str, *, finished: bool, about: User) -> Message:
    verb = "was reset" if finished else "reset requested"
    return render(
        "account_reset",
        settings,
        to=to.email,
        subject=f"Attest: account {verb} for {about.email}",
        kind="done" if finished else "notice",
        name=to.name,
        text=text,
        own=to.id == about.id,
        link=absolute(settings, "/account"),
    )


def deliver(mailer: Mailer, messages: Iterable[Message]) -> list[str]:
    """Send each message; returns the addresses that could not be reached (logged, not raised:
    the change is committed already and the person asking is told)."""
    failed: list[str] = []
    for message in messages:
        try:
            mailer.send(message)
        except Exception as error:  # any mail failure: report it, keep going
            log.warning("account mail to %s not sent: %s", message.to, error)
            failed.append(message.to)
    return failed
