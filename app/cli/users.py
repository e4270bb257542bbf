"""`attest orgs`, `attest users` and `attest tokens`: accounts from the command line.

The command line acts as the operator (`common.operator`): the same use cases as the
administrator's pages, with the same rules and the same audit events."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.adapters.mail import make_mailer
from app.cli.common import JsonFlag, emit, fail, operator, unit_of_work
from app.config import Settings
from app.models import utcnow
from app.services import account_notices, accounts, sessions

orgs_cli = typer.Typer(help="Organisations.", no_args_is_help=True)
users_cli = typer.Typer(help="Users.", no_args_is_help=True)
tokens_cli = typer.Typer(help="Personal access tokens.", no_args_is_help=True)


@orgs_cli.command("create")
def orgs_create(
    name: Annotated[str, typer.Option(help="Organisation name.")],
    kind: Annotated[str, typer.Option(help="buyer, supplier or operator.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an organisation."""
    with unit_of_work() as (session, _, keys):
        org = accounts.add_organisation(session, operator(keys), name=name, kind=kind)
        session.commit()
    emit(as_json, {"id": org.id, "name": org.name, "kind": org.kind.value}, f"created organisation {org.id}")


@users_cli.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address (the sign-in name).")],
    org: Annotated[str, typer.Option(help="Organisation id or exact name.")],
    role: Annotated[
        str, typer.Option(help="supplier_lead, supplier_contributor, buyer_advisor, administrator.")
    ],
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    password: Annotated[
        str | None, typer.Option(help="Set this password and enrol MFA now (prints the TOTP secret).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a user: mails (and prints) a one-time invitation link, or with --password the TOTP secret."""
    issued: accounts.Issued | None = None
    with unit_of_work() as (session, settings, keys):
        organisation = accounts.find_organisation(session, org)
        user = accounts.add_user(
            session, operator(keys), email=email, name=name, organisation_id=organisation.id, role=role
        )
        payload: dict[str, Any] = {"id": user.id, "email": user.email}
        if password is not None:
            payload["totp_secret"] = accounts.enrol_for_script(session, keys, user, password, now=utcnow())
            text = f"created user {user.id}; TOTP secret {payload['totp_secret']}"
        else:
            issued = accounts.issue_link(session, operator(keys), settings, user=user, now=utcnow())
            # A new account only: whoever runs the command line could enrol it anyway.
            payload["invitation_url"] = issued.link
            text = f"created user {user.id}; invitation link (valid 7 days): {issued.link}"
        session.commit()
    if issued is not None:
        payload["mail_failed"] = deliver_or_warn(settings, issued)
    emit(as_json, payload, text)


@users_cli.command("reset")
def users_reset(
    email: Annotated[str, typer.Option(help="Email address or user id.")], as_json: JsonFlag = False
) -> None:
    """Mail the account a new link: a reset (new password and app, every session and token ends
    when finished) for an enrolled account, never printed; an invitation for one never enrolled."""
    with unit_of_work() as (session, settings, keys):
        user = accounts.find_user(session, email)
        issued = accounts.issue_link(session, operator(keys), settings, user=user, now=utcnow())
        session.commit()
    payload: dict[str, Any] = {"id": user.id, "email": user.email, "purpose": issued.purpose}
    if issued.link:
        payload["invitation_url"] = issued.link
        text = f"mailed a new invitation link to {user.email} (valid 7 days): {issued.link}"
    else:
        text = f"mailed a reset link to {user.email} (valid 7 days); it is not shown here"
    payload["mail_failed"] = deliver_or_warn(settings, issued)
    emit(as_json, payload, text)


def deliver_or_warn(settings: Settings, issued: accounts.Issued) -> bool:
    """Send the link's mails after the commit; a failure is one line on stderr (exit code 0:
    the link exists; running the command again makes a new one)."""
    failed = account_notices.deliver(make_mailer(settings), issued.mails)
    for address in failed:
        typer.echo(f"attest: warning: the mail to {address} could not be sent", err=True)
    return bool(failed)


@users_cli.command("disable")
def users_disable(
    email: Annotated[str, typer.Option(help="Email address or user id.")], as_json: JsonFlag = False
) -> None:
    """Disable a user: every session and token ends at once."""
    with unit_of_work() as (session, _, keys):
        user = accounts.find_user(session, email)
        accounts.disable(session, operator(keys), user, now=utcnow())
        session.commit()
    emit(as_json, {"id": user.id, "disabled": True}, f"disabled {user.email}")


@tokens_cli.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="Whose token (email or user id).")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "command line",
    expires_days: Annotated[int | None, typer.Option(help="Days until it expires (1-366).")] = 90,
    as_json: JsonFlag = False,
) -> None:
    """Create a personal access token (printed once; only its hash is kept)."""
    with unit_of_work() as (session, _, keys):
        user = accounts.find_user(session, email)
        if not user.is_active:
            fail(f"{user.email} is disabled or has not finished setting up their account")
        row, token = sessions.add_token(
            session, operator(keys), user, name=name, expires_days=expires_days, now=utcnow()
        )
        session.commit()
    emit(as_json, {"id": row.id, "token": token}, token)
