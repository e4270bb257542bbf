"""`attest keys rotate-secret`: finish rotating ATTEST_SECRET_KEY.

Run it after the new key is ATTEST_SECRET_KEY and the old one is first in
ATTEST_PREVIOUS_SECRET_KEYS (every process restarted with both): it seals every stored TOTP key
again under the new secret, a batch of accounts per short transaction, so sign-ins and saves
never wait on it. Run it again at any time: keys already under the new secret are left alone.
Recovery codes cannot be re-hashed (only their hashes are stored): they keep verifying while
the old key stays in ATTEST_PREVIOUS_SECRET_KEYS, and stop when it is dropped unless renewed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.adapters.crypto import Keys, split_keys
from app.cli.common import JsonFlag, emit, fail, settings_or_fail, unit_of_work
from app.services import accounts

keys_cli = typer.Typer(help="Rotating the secret key.", no_args_is_help=True)

UNREADABLE_EXIT = 1


@keys_cli.command("rotate-secret")
def rotate_secret(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Accounts per transaction.")] = 200,
    as_json: JsonFlag = False,
) -> None:
    """Seal every stored TOTP key under the current ATTEST_SECRET_KEY (those sealed under a key in
    ATTEST_PREVIOUS_SECRET_KEYS); exit 1 naming the accounts whose key no configured secret opens,
    2 when no secret key is configured at all."""
    settings = settings_or_fail()
    secret = settings.existing_secret_key()
    if not secret:
        # Never a made-up key: every account would be reported unreadable, and the kept file
        # would then become the installation's secret key.
        fail(
            "ATTEST_SECRET_KEY is not set and there is no data_dir/secret_key file: set the new "
            "secret key (and the old one in ATTEST_PREVIOUS_SECRET_KEYS) as the server has them"
        )
    keys = Keys.from_settings(settings, secret)
    resealed = current = batches = 0
    unreadable: list[str] = []
    with unit_of_work(keys=keys) as (session, _, keys):
        after = ""
        while True:
            done = accounts.reseal_totp_keys(session, keys, after=after, limit=batch)
            session.commit()  # one short transaction per batch
            resealed, current = resealed + done.resealed, current + done.current
            unreadable.extend(done.unreadable)
            if not done.last_id:
                break
            batches, after = batches + 1, done.last_id
        pending = accounts.reseal_pending_totp_keys(session, keys)
        session.commit()
        recovery = accounts.unused_recovery_codes(session)
        session.rollback()
    unreadable.extend(pending.unreadable)
    previous = len(split_keys(settings.previous_secret_keys))
    payload = {
        "ok": not unreadable,
        "resealed": resealed + pending.resealed,
        "already_current": current + pending.current,
        "unreadable": len(unreadable),
        "unreadable_ids": unreadable,
        "batches": batches,
        "invitations_resealed": pending.resealed,
        "unused_recovery_codes": recovery,
        "previous_secret_keys": previous,
    }
    text = (
        f"TOTP keys: {payload['resealed']} sealed again under the current secret key, "
        f"{payload['already_current']} already under it"
        f"{f', {len(unreadable)} that no configured key opens' if unreadable else ''}.\n"
        f"Recovery codes: {recovery} unused; they cannot be re-hashed and keep working only while "
        "the key they were made under is ATTEST_SECRET_KEY or in ATTEST_PREVIOUS_SECRET_KEYS."
    )
    emit(as_json, payload, text)
    if unreadable:
        # The counts stay on stdout (for scripts); the error goes where every command's errors go.
        typer.echo(
            "attest: error: these TOTP keys open with no configured secret key (put the secret key "
            "they were sealed under in ATTEST_PREVIOUS_SECRET_KEYS and run this again): "
            + ", ".join(unreadable),
            err=True,
        )
        raise typer.Exit(code=UNREADABLE_EXIT)
