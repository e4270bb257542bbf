"""The `attest` command: serve, migrate, load demo data."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from sqlmodel import Session, select

from app import __version__, migrate
from app.catalogue import CatalogueError, cached_library
from app.checks import check_catalogues, check_database, check_writable_dir, prepare_sqlite_folder
from app.config import ConfigError, Settings, load_settings
from app.db import make_engine, session_scope
from app.domain.errors import AttestError
from app.models import Evidence, utcnow
from app.security import Keys, totp_code
from app.services import accounts, sessions
from app.services import audit as audit_service
from app.services.audit import Who
from app.services.demo import DEMO_PASSWORD, load_demo
from app.storage import make_store

cli = typer.Typer(
    help="Attest: supplier security assurance for UK government contracts.",
    no_args_is_help=True,
    add_completion=False,
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
orgs_cli = typer.Typer(help="Organisations.", no_args_is_help=True)
users_cli = typer.Typer(help="Users.", no_args_is_help=True)
tokens_cli = typer.Typer(help="Personal access tokens.", no_args_is_help=True)
audit_cli = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(orgs_cli, name="orgs")
cli.add_typer(users_cli, name="users")
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(audit_cli, name="audit")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
CLI_WHO = Who(address="cli", request_id="cli")


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(payload) if as_json else text)


@contextmanager
def unit_of_work(write: bool = True) -> Iterator[tuple[Session, Settings, Keys]]:
    """A migrated database session and the keys; domain errors become one clear line."""
    settings = settings_or_fail()
    engine = make_engine(settings.effective_database_url)
    problem = check_database(engine)
    if problem:
        fail(problem)
    keys = Keys(settings.audit_key or settings.resolved_secret_key())
    try:
        with session_scope(engine, write=write) as session:
            yield session, settings, keys
    except AttestError as error:
        fail(error.message)
    finally:
        engine.dispose()


def fail(message: str) -> NoReturn:
    typer.echo(f"attest: error: {message}", err=True)
    raise typer.Exit(code=2)


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        fail(str(error))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attest {__version__}")
        raise typer.Exit()


@cli.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Attest command line."""


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version (safe to repeat)."""
    settings = settings_or_fail()
    url = settings.effective_database_url
    problem = prepare_sqlite_folder(url)
    if problem:
        fail(problem)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    except Exception as error:  # any driver error: one clear line, not a traceback
        fail(f"ATTEST_DATABASE_URL: migration failed: {str(error).splitlines()[0]}")
    typer.echo(f"database at revision {migrate.current_revision(engine)}")


@cli.command()
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


@cli.command("demo-code")
def demo_code(email: str) -> None:
    """Print the current sign-in code of a demo account (development only)."""
    with unit_of_work(write=False) as (session, settings, keys):
        if settings.env == "production" or not email.endswith(".example"):
            fail("demo-code works only for the demo accounts (@*.example) outside production")
        user = accounts.find_user(session, email)
        typer.echo(totp_code(accounts.totp_secret(keys, user), time.time()))


@cli.command("verify-evidence")
def verify_evidence(as_json: JsonFlag = False) -> None:
    """Re-hash every stored evidence object; report mismatches, missing objects and orphans (exit 1)."""
    with unit_of_work(write=False) as (session, settings, _):
        store = make_store(settings)
        expected = set(session.exec(select(Evidence.sha256)).all())
        missing = sorted(k for k in expected if not store.exists(k))
        corrupt = sorted(k for k in expected - set(missing) if store.hash_of(k) != k)
        orphans = sorted(set(store.keys()) - expected)
    payload = {"checked": len(expected), "missing": missing, "corrupt": corrupt, "orphans": orphans}
    ok = not (missing or corrupt or orphans)
    text = (
        f"evidence store intact: {len(expected)} objects"
        if ok
        else f"evidence store problems: {len(missing)} missing, {len(corrupt)} corrupt, "
        f"{len(orphans)} orphans: "
        + ", ".join(
            [
                *(f"missing {k}" for k in missing),
                *(f"corrupt {k}" for k in corrupt),
                *(f"orphan {k}" for k in orphans),
            ]
        )
    )
    emit(as_json, payload, text)
    if not ok:
        raise typer.Exit(code=1)


@orgs_cli.command("create")
def orgs_create(
    name: Annotated[str, typer.Option(help="Organisation name.")],
    kind: Annotated[str, typer.Option(help="buyer, supplier or operator.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an organisation."""
    with unit_of_work() as (session, _, keys):
        org = accounts.create_organisation(session, name=name, kind=kind)
        audit_service.record(
            session, keys.audit, CLI_WHO, "organisation_created", object_type="organisation", object_id=org.id
        )
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
    """Create a user: prints a one-time invitation link, or with --password the TOTP secret."""
    with unit_of_work() as (session, settings, keys):
        organisation = accounts.find_organisation(session, org)
        user = accounts.create_user(
            session, email=email, name=name, organisation_id=organisation.id, role=role
        )
        payload: dict[str, Any] = {"id": user.id, "email": user.email}
        if password is not None:
            payload["totp_secret"] = accounts.enrol_for_script(session, keys, user, password, now=utcnow())
            text = f"created user {user.id}; TOTP secret {payload['totp_secret']}"
        else:
            token = accounts.issue_invitation(session, user=user, by_user_id=None, now=utcnow())
            payload["invitation_url"] = f"{settings.base_url}/invitations/{token}"
            text = f"created user {user.id}; invitation link (valid 7 days): {payload['invitation_url']}"
        audit_service.record(
            session, keys.audit, CLI_WHO, "user_created", object_type="user", object_id=user.id
        )
        session.commit()
    emit(as_json, payload, text)


@users_cli.command("disable")
def users_disable(
    email: Annotated[str, typer.Option(help="Email address or user id.")], as_json: JsonFlag = False
) -> None:
    """Disable a user: every session and token ends at once."""
    with unit_of_work() as (session, _, keys):
        user = accounts.find_user(session, email)
        accounts.disable_user(session, user, now=utcnow())
        audit_service.record(
            session, keys.audit, CLI_WHO, "user_disabled", object_type="user", object_id=user.id
        )
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
        row, token = sessions.create_token(session, user, name=name, expires_days=expires_days, now=utcnow())
        audit_service.record(
            session, keys.audit, CLI_WHO, "token_created", object_type="api_token", object_id=row.id
        )
        session.commit()
    emit(as_json, {"id": row.id, "token": token}, token)


@audit_cli.command("verify")
def audit_verify(as_json: JsonFlag = False) -> None:
    """Check the whole chain and the checkpoints; exit 1 naming the first bad record."""
    with unit_of_work(write=False) as (session, settings, keys):
        verdict = audit_service.verify(session, keys.audit, settings.audit_checkpoint_file)
    payload = {
        "ok": verdict.ok,
        "checked": verdict.checked,
        "head_seq": verdict.head.seq,
        "first_bad_seq": verdict.first_bad_seq,
        "reason": verdict.reason,
    }
    if verdict.ok:
        emit(as_json, payload, f"audit log intact: {verdict.checked} records, head {verdict.head.seq}")
        return
    emit(as_json, payload, f"audit log BROKEN at record {verdict.first_bad_seq}: {verdict.reason}")
    raise typer.Exit(code=1)


@audit_cli.command("checkpoint")
def audit_checkpoint(as_json: JsonFlag = False) -> None:
    """Append the chain head to the checkpoint file (run from cron, e.g. hourly)."""
    with unit_of_work(write=False) as (session, settings, _):
        point = audit_service.write_checkpoint(session, settings.audit_checkpoint_file)
    emit(as_json, {"seq": point.seq, "hash": point.hash}, f"checkpoint at record {point.seq}")


@audit_cli.command("prune")
def audit_prune(
    retention_days: Annotated[int, typer.Option(help="Keep at least this many days (>= 183).")] = 183,
    as_json: JsonFlag = False,
) -> None:
    """Remove whole months of events older than the retention period."""
    with unit_of_work() as (session, _, keys):
        try:
            removed = audit_service.prune(session, keys.audit, now=utcnow(), retention_days=retention_days)
        except ValueError as error:
            fail(str(error))
        session.commit()
    emit(as_json, {"removed": removed}, f"pruned {removed} audit records")


def startup_problems(settings: Settings) -> list[str]:
    """What stops the server from starting, one line each."""
    problem = prepare_sqlite_folder(settings.effective_database_url)
    if problem:
        return [problem]
    engine = make_engine(settings.effective_database_url)
    checks = (
        check_database(engine),
        check_writable_dir(Path(settings.evidence_dir), "ATTEST_EVIDENCE_DIR"),
        check_writable_dir(Path(settings.data_dir), "ATTEST_DATA_DIR"),
        check_catalogues(Path(settings.controls_dir)),
    )
    engine.dispose()
    return [p for p in checks if p]


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve Attest over HTTP (refuses to start on bad configuration)."""
    import uvicorn

    settings = settings_or_fail()
    problems = startup_problems(settings)
    if problems:
        fail(problems[0])
    typer.echo(f"Attest {__version__} on http://{host}:{port}")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=True,
    )


@cli.command()
def remind(
    as_of: Annotated[str, typer.Option("--as-of", help="Evaluate this day (YYYY-MM-DD), not today.")] = "",
    every: Annotated[str, typer.Option("--every", help="Run again after this interval (30m, 1h, 1d).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Send every reminder due since the last run, each exactly once (from cron, or with --every)."""
    from app.cli_remind import remind_loop

    remind_loop(as_of=as_of, every=every, as_json=as_json)


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
