"""`attest local`: what `make run` tells a newcomer, and the address it serves links under.

`make run PORT=8201` must put port 8201 in every link Attest writes (mail, the calendar feed,
the statement's verification address), in the web server and the worker alike; so the
Makefile asks this command for the base URL and exports it to both. A base URL set in the
environment or in `.env` always wins: behind a proxy only the operator knows the public one.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import settings_or_fail
from app.config import Settings

# The wildcard binds (no browser can open them), named to be recognised, never bound here.
ANY_ADDRESS = {"0.0.0.0", "::", ""}  # noqa: S104


def base_url(settings: Settings, host: str, port: int) -> str:
    """The configured ATTEST_BASE_URL, else the address `attest serve --host --port` listens on
    (the loopback address for a wildcard bind, which no browser can open)."""
    if "base_url" in settings.model_fields_set:
        return settings.base_url
    shown = "127.0.0.1" if host in ANY_ADDRESS else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def mail_destination(settings: Settings) -> str:
    """Where mail goes, in a sentence."""
    if settings.mail_backend == "smtp":
        return f"Mail goes to the SMTP server {settings.smtp_host}:{settings.smtp_port}."
    return "Mail is printed in this terminal (ATTEST_MAIL_BACKEND=console)."


def local(
    host: Annotated[str, typer.Option(help="The address `attest serve` listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Its port.")] = 8000,
    print_base_url: Annotated[
        bool, typer.Option("--base-url", help="Print only the base URL links are written under.")
    ] = False,
) -> None:
    """Print where a local Attest is opened and where its mail goes."""
    settings = settings_or_fail()
    url = base_url(settings, host, port)
    if print_base_url:
        typer.echo(url)
        return
    typer.echo(f"Open {url}/ (links in mail and calendar feeds use {url}).")
    typer.echo(mail_destination(settings))
