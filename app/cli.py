"""The `attest` command: serve, migrate, load demo data."""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from sqlmodel import Session

from app import __version__, migrate
from app.catalogue import CatalogueError, cached_library
from app.checks import check_catalogues, check_database, check_writable_dir, prepare_sqlite_folder
from app.config import ConfigError, Settings, load_settings
from app.db import make_engine, session_scope
from app.domain.errors import AttestError
from app.mail import make_mailer
from app.models import utcnow
from app.security import Keys, totp_code
from app.services import account_notices, accounts, sessions
from app.services import audit as audit_service
from app.services import evidence_integrity as integrity
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
def unit_of_work(write: bool = True, keys: Keys | None = None) -> Iterator[tuple[Session, Settings, Keys]]:
    """A migrated database session and the keys; domain errors become one clear line."""
    settings = settings_or_fail()
    engine = make_engine(settings.effective_database_url)
    problem = check_database(engine)
    if problem:
        fail(problem)
    keys = keys or Keys(settings.audit_key or settings.resolved_secret_key())
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
def verify_evidence(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First remove orphans and temp files older than ATTEST_ORPHAN_GRACE_MINUTES "
            "(left by a crash; never an object a row refers to).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Re-hash every stored evidence object; report mismatches, missing objects and orphans (exit 1)."""
    with unit_of_work(write=False) as (session, settings, _):
        store = make_store(settings)
        grace = settings.orphan_grace_minutes * 60
        swept = integrity.sweep(session, store, grace_seconds=grace) if repair else integrity.Sweep()
        report = integrity.check(session, store, grace_seconds=grace)
    payload = {
        "checked": report.checked,
        "missing": report.missing,
        "corrupt": report.corrupt,
        "orphans": report.orphans,
        "young_orphans": report.young_orphans,
        "stale_temp_files": report.stale_temp_files,
        "removed": {"orphans": swept.orphans, "temp_files": swept.temp_files},
    }
    lines = [
        *(f"removed orphan {k} (no evidence row, older than the grace period)" for k in swept.orphans),
        *(f"removed stale temp file {name}" for name in swept.temp_files),
    ]
    if report.ok:
        lines.append(f"evidence store intact: {report.checked} objects")
    else:
        lines.append(
            f"evidence store problems: {len(report.missing)} missing, {len(report.corrupt)} corrupt, "
            f"{len(report.orphans)} orphans, {report.stale_temp_files} stale temp files: "
            + ", ".join(
                [
                    *(f"missing {k}" for k in report.missing),
                    *(f"corrupt {k}" for k in report.corrupt),
                    *(f"orphan {k}" for k in report.orphans),
                ]
            )
        )
        if (report.orphans or report.stale_temp_files) and not repair:
            lines.append(
                "orphans and stale temp files are left by a crash: `attest verify-evidence --repair`"
            )
    lines.extend(
        f"young orphan {k} kept (younger than {settings.orphan_grace_minutes} minutes: "
        "its upload may be about to commit)"
        for k in report.young_orphans
    )
    emit(as_json, payload, "\n".join(lines))
    if not report.ok:
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
    """Create a user: mails (and prints) a one-time invitation link, or with --password the TOTP secret."""
    issued: accounts.Issued | None = None
    with unit_of_work() as (session, settings, keys):
        organisation = accounts.find_organisation(session, org)
        user = accounts.create_user(
            session, email=email, name=name, organisation_id=organisation.id, role=role
        )
        payload: dict[str, Any] = {"id": user.id, "email": user.email}
        audit_service.record(
            session, keys.audit, CLI_WHO, "user_created", object_type="user", object_id=user.id
        )
        if password is not None:
            payload["totp_secret"] = accounts.enrol_for_script(session, keys, user, password, now=utcnow())
            text = f"created user {user.id}; TOTP secret {payload['totp_secret']}"
        else:
            issued = accounts.issue_link(
                session, keys, settings, user=user, by=None, who=CLI_WHO, now=utcnow()
            )
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
        issued = accounts.issue_link(session, keys, settings, user=user, by=None, who=CLI_WHO, now=utcnow())
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


WRONG_KEY_EXIT = 3  # distinct from 1 (the log is broken) and 2 (could not run)


def existing_keys(settings: Settings) -> Keys | None:
    """The keys of the configured or kept secret; never a new one (a made-up key is only wrong,
    and generating it would keep it), None when there is none."""
    secret = settings.audit_key or settings.existing_secret_key()
    return Keys(secret) if secret else None


def throwaway_keys() -> Keys:
    return Keys(secrets.token_urlsafe(48))


@audit_cli.command("verify")
def audit_verify(as_json: JsonFlag = False) -> None:
    """Check the whole chain and the checkpoints; exit 1 naming the first bad record, 3 on a wrong key."""
    found = existing_keys(settings_or_fail())
    with unit_of_work(write=False, keys=found or throwaway_keys()) as (session, settings, keys):
        verdict = audit_service.verify(session, keys.audit, settings.audit_checkpoint_file)
    payload = {
        "ok": verdict.ok,
        "checked": verdict.checked,
        "head_seq": verdict.head.seq,
        "first_bad_seq": verdict.first_bad_seq,
        "reason": verdict.reason,
        "wrong_key": verdict.wrong_key,
    }
    if verdict.ok:
        emit(as_json, payload, f"audit log intact: {verdict.checked} records, head {verdict.head.seq}")
        return
    if verdict.wrong_key:
        if found is None:
            payload["reason"] = (
                "the audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY): neither is set "
                "and there is no data_dir/secret_key file; set the key the log was written with"
            )
        emit(as_json, payload, f"audit log NOT VERIFIED: {payload['reason']}")
        raise typer.Exit(code=WRONG_KEY_EXIT)
    emit(as_json, payload, f"audit log BROKEN at record {verdict.first_bad_seq}: {verdict.reason}")
    raise typer.Exit(code=1)


@audit_cli.command("checkpoint")
def audit_checkpoint(as_json: JsonFlag = False) -> None:
    """Append the chain head (and the audit key's id) to the checkpoint file (run from cron, e.g. hourly)."""
    found = existing_keys(settings_or_fail())
    with unit_of_work(write=False, keys=found or throwaway_keys()) as (session, settings, _):
        key = found.audit if found else None  # the key id is written only for a key that matches
        point = audit_service.write_checkpoint(session, settings.audit_checkpoint_file, key)
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


STARTUP_SWEEP_SECONDS = 10.0  # start-up stays quick; `verify-evidence --repair` finishes the rest


def startup_cleanup(settings: Settings) -> list[str]:
    """Remove what a crash left in the evidence store (see evidence_integrity); one line each."""
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(engine) as session:
            swept = integrity.sweep(
                session,
                make_store(settings),
                grace_seconds=settings.orphan_grace_minutes * 60,
                budget_seconds=STARTUP_SWEEP_SECONDS,
            )
    except Exception as error:  # a failed clean-up must not stop the server
        return [f"start-up clean-up of the evidence store failed: {str(error).splitlines()[0]}"]
    finally:
        engine.dispose()
    lines = [f"start-up clean-up: removed orphan {key} (left by a crash)" for key in swept.orphans]
    lines += [f"start-up clean-up: removed stale temp file {name}" for name in swept.temp_files]
    if not swept.complete:
        lines.append("start-up clean-up stopped for time: run `attest verify-evidence --repair`")
    return lines


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
    for line in startup_cleanup(settings):
        typer.echo(line, err=True)
    typer.echo(f"Attest {__version__} on http://{host}:{port}")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        # Uvicorn's default believes X-Forwarded-* from 127.0.0.1: only the configured proxies.
        proxy_headers=bool(settings.trusted_networks),
        forwarded_allow_ips=[str(network) for network in settings.trusted_networks],
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
