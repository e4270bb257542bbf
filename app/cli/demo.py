"""`attest demo` and `attest demo-code`: demo data and the demo accounts' sign-in codes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from app.adapters.catalogue_files import CatalogueError, cached_library
from app.adapters.crypto import totp_code
from app.adapters.storage import make_store
from app.cli.common import JsonFlag, fail, settings_or_fail, unit_of_work
from app.services import accounts
from app.services.demo import DEMO_PASSWORD, load_demo


def demo(as_json: JsonFlag = False) -> None:
    """Load demo organisations, users and an engagement (safe to run twice); print the logins."""
    settings = settings_or_fail()
    if settings.env == "production":
        fail("ATTEST_ENV: demo data is never loaded in production")
    try:
        library = cached_library(str(Path(settings.controls_dir).resolve()))
    except CatalogueError as error:
        fail(f"ATTEST_CONTROLS_DIR: {error}")
    with unit_of_work() as (session, settings, keys):
        result = load_demo(
            session,
            keys,
            available_catalogues={c.id for c in library.catalogues},
            library=library,
            store=make_store(settings),
        )
        session.commit()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "created": result.created,
                    "engagement_id": result.engagement_id,
                    "password": DEMO_PASSWORD,
                    "users": [
                        dict(zip(("email", "name", "role", "totp_secret"), u, strict=True))
                        for u in result.users
                    ],
                }
            )
        )
        return
    typer.echo(f"demo data ready ({result.created} records created)")
    typer.echo(f"demo accounts (password for all: {DEMO_PASSWORD}):")
    for email, _name, role, secret in result.users:
        typer.echo(f"  {email:32} {role:22} authenticator key {secret}")
    typer.echo("add a key to an authenticator app, or run `attest demo-code EMAIL` for the current code")


def demo_code(email: str) -> None:
    """Print the current sign-in code of a demo account (development only)."""
    with unit_of_work(write=False) as (session, settings, keys):
        if settings.env == "production" or not email.endswith(".example"):
            fail("demo-code works only for the demo accounts (@*.example) outside production")
        user = accounts.find_user(session, email)
        typer.echo(totp_code(accounts.totp_secret(keys, user), time.time()))
