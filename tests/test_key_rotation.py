"""Rotating ATTEST_SECRET_KEY and ATTEST_AUDIT_KEY as an operator does it and as people live through
it (README "Rotating the secret key and the audit key"): the new key writes, the old one listed in
ATTEST_PREVIOUS_SECRET_KEYS / ATTEST_PREVIOUS_AUDIT_KEYS is only read with, and dropping it ends
exactly what was made under it and nothing else.

Web steps run the app in-process on the test's database (SQLite, and PostgreSQL when
ATTEST_TEST_POSTGRES_URL is set); operator steps run the real `attest` command on the same one.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.adapters.crypto import Keys, UndecryptableSecret, new_token, open_sealed, sha256_hex, totp_code
from app.db import make_engine, session_scope
from app.domain.audit import key_id
from app.http.csrf import FAILED
from app.models import Invitation, User, utcnow
from app.services import accounts, audit, sessions
from tests.conftest import built_app, make_settings
from tests.factories import PASSWORD, Person, make_org, make_person, sign_in
from tests.test_cli import run

OLD = "the-secret-key-before-rotation-" + "o" * 20
NEW = "the-secret-key-after-rotation-" + "n" * 20
OTHER = "a-secret-key-nobody-configured-" + "x" * 20
AUDIT_OLD = "the-audit-key-before-rotation-" + "a" * 20
AUDIT_NEW = "the-audit-key-after-rotation-" + "b" * 20
WRONG_CODE = "That code is not right, or was already used. Enter the newest code."


# --- helpers ---------------------------------------------------------------------------------


@contextmanager
def served(tmp_path: Path, database_url: str, **keys: str) -> Iterator[tuple[FastAPI, TestClient]]:
    """The app as it runs with these key settings (secret_key, previous_secret_keys, audit_key,
    ...) on the test's database: one process restart of the installation."""
    app = built_app(make_settings(tmp_path, database_url, **keys))
    try:
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            yield app, client
    finally:
        app.state.engine.dispose()


def attest(tmp_path: Path, database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real `attest` command on the test's database."""
    return run(tmp_path, *args, ATTEST_DATABASE_URL=database_url, **env)


def page_token(html: str) -> str:
    """The CSRF token a rendered form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def second_factor(client: TestClient, person: Person, code: str) -> int:
    """Password then `code` on the sign-in pages; the status of the code step (303: signed in)."""
    form = client.get("/sign-in")
    step_one = client.post(
        "/sign-in",
        data={"email": person.email, "password": PASSWORD, "next": "/", "csrf_token": page_token(form.text)},
        follow_redirects=False,
    )
    assert step_one.status_code == 303, step_one.text
    verify = client.get("/sign-in/verify")
    response = client.post(
        "/sign-in/verify",
        data={"code": code, "next": "/account", "csrf_token": page_token(verify.text)},
        follow_redirects=False,
    )
    if response.status_code != 303:
        assert WRONG_CODE in response.text
    return response.status_code


def signed_in_as(client: TestClient) -> str | None:
    me = client.get("/api/me")
    return str(me.json()["email"]) if me.status_code == 200 else None


def later_code(person: Person, steps: int) -> str:
    """A code of a later time step (each code is accepted once), still within the drift window."""
    return person.code(time.time() + 30 * steps)


def stored_key(engine: Engine, person: Person) -> str:
    with session_scope(engine) as session:
        user = session.get_one(User, person.user.id)
        return user.totp_secret_encrypted or ""


def opens_with(secret_key: str, sealed: str) -> str | None:
    """What `sealed` opens to under `secret_key` alone, or None if it does not."""
    try:
        return open_sealed([Keys(secret_key).totp], sealed)[0]
    except UndecryptableSecret:
        return None


def recovery_codes(engine: Engine, keys: Keys, person: Person) -> list[str]:
    """New recovery codes for `person`, hashed under `keys` (as the account page makes them)."""
    with session_scope(engine, write=True) as session:
        codes = accounts.replace_recovery_codes(session, keys, session.get_one(User, person.user.id))
        session.commit()
    return codes


def pending_invitation(engine: Engine, keys: Keys) -> tuple[str, str]:
    """An invited person who chose a password (step 1) under `keys` and has not yet confirmed the
    key their app scanned (step 2): the link's token and that key."""
    org = make_org(engine, "supplier")
    token = new_token("inv")
    with session_scope(engine, write=True) as session:
        user = accounts.create_user(
            session,
            email=f"invited.{token[-6:].lower()}@example.com",
            name="Invited",
            organisation_id=org.id,
            role="supplier_contributor",
        )
        now = utcnow()
        invitation = Invitation(
            user_id=user.id, token_hash=sha256_hex(token), created_at=now, expires_at=now + timedelta(days=7)
        )
        session.add(invitation)
        session.flush()
        secret = accounts.choose_password(
            session, keys, invitation, user, password=PASSWORD, confirm=PASSWORD
        )
        session.commit()
    return token, secret


def record_events(engine: Engine, key: bytes, count: int) -> None:
    """`count` audit events of one organisation's chain written under `key` (the app before the
    rotation)."""
    with session_scope(engine, write=True) as session:
        for n in range(count):
            audit.record(session, key, audit.Who(user_id="u1", org_id="o1"), f"action_{n}")
        session.commit()


def tamper(engine: Engine, sql: str) -> None:
    """Change the log below the application, as someone with database access could."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))  # bypass triggers
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
        connection.execute(text(sql))


# --- 1. TOTP sign-in across a secret key rotation --------------------------------------------


def test_an_authenticator_enrolled_under_the_old_secret_still_signs_in_and_moves_to_the_new_one(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    person = make_person(engine, Keys(OLD), "supplier_lead")
    waiting = make_person(engine, Keys(OLD), "supplier_lead")

    with served(tmp_path, database_url, secret_key=NEW) as (_, client):
        # The old key not listed yet: a person enrolled under it is refused like a wrong code.
        assert second_factor(client, waiting, waiting.code()) == 422
        assert signed_in_as(client) is None

    with served(tmp_path, database_url, secret_key=NEW, previous_secret_keys=f"{OLD}, {OTHER}") as (
        _,
        client,
    ):
        assert opens_with(OLD, stored_key(engine, person)) == person.totp_secret
        assert second_factor(client, person, person.code()) == 303
        assert signed_in_as(client) == person.email
    sealed = stored_key(engine, person)
    assert opens_with(NEW, sealed) == person.totp_secret  # sealed again under the new key
    assert opens_with(OLD, sealed) is None

    with served(tmp_path, database_url, secret_key=NEW) as (_, client):  # the old key dropped
        assert second_factor(client, person, later_code(person, 1)) == 303
        assert signed_in_as(client) == person.email
    engine.dispose()


# --- 2. attest keys rotate-secret ------------------------------------------------------------


def test_rotate_secret_reseals_every_account_and_invitation_and_is_idempotent(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    under_old = [make_person(engine, Keys(OLD), "supplier_lead") for _ in range(3)]
    under_new = make_person(engine, Keys(NEW), "buyer_advisor")
    token, invited_key = pending_invitation(engine, Keys(OLD))
    rotation = {"ATTEST_SECRET_KEY": NEW, "ATTEST_PREVIOUS_SECRET_KEYS": OLD}

    first = attest(tmp_path, database_url, "keys", "rotate-secret", "--batch", "2", **rotation)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith(
        "TOTP keys: 4 sealed again under the current secret key, 1 already under it.\n"
    )
    assert "Recovery codes: 40 unused" in first.stdout  # ten per enrolled account, none re-hashable
    for person in [*under_old, under_new]:
        assert opens_with(NEW, stored_key(engine, person)) == person.totp_secret

    again = attest(tmp_path, database_url, "keys", "rotate-secret", "--json", **rotation)
    assert again.returncode == 0
    report = json.loads(again.stdout)
    counts = (
        "ok",
        "resealed",
        "already_current",
        "unreadable",
        "invitations_resealed",
        "previous_secret_keys",
    )
    assert {name: report[name] for name in counts} == {
        "ok": True,
        "resealed": 0,
        "already_current": 5,
        "unreadable": 0,
        "invitations_resealed": 0,
        "previous_secret_keys": 1,
    }

    with served(tmp_path, database_url, secret_key=NEW) as (_, client):  # the old key dropped
        assert second_factor(client, under_old[0], under_old[0].code()) == 303
        client.cookies.clear()
        # The invited person confirms the key their app scanned before the rotation.
        page = client.get(f"/invitations/{token}")
        assert page.status_code == 200
        done = client.post(
            f"/invitations/{token}/mfa",
            data={"code": totp_code(invited_key, time.time()), "csrf_token": page_token(page.text)},
        )
        assert done.status_code == 200, done.text
        assert signed_in_as(client) is not None
    engine.dispose()


def test_rotate_secret_names_the_accounts_no_configured_key_opens_and_leaves_them_alone(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    stranded = make_person(engine, Keys(OLD), "supplier_lead")
    fine = make_person(engine, Keys(NEW), "supplier_lead")
    token, _ = pending_invitation(engine, Keys(OLD))
    with session_scope(engine) as session:
        invitation = session.exec(select(Invitation).where(Invitation.token_hash == sha256_hex(token))).one()
    before = stored_key(engine, stranded)

    forgot = attest(tmp_path, database_url, "keys", "rotate-secret", ATTEST_SECRET_KEY=NEW)
    assert forgot.returncode == 1
    counts = "0 sealed again under the current secret key, 1 already under it, 2 that no configured key opens"
    assert counts in forgot.stdout
    assert forgot.stderr.startswith("attest: error: these TOTP keys open with no configured secret key")
    assert stranded.user.id in forgot.stderr and f"invitation:{invitation.id}" in forgot.stderr
    assert fine.user.id not in forgot.stderr
    assert stored_key(engine, stranded) == before  # nothing changed for them

    fixed = attest(
        tmp_path,
        database_url,
        "keys",
        "rotate-secret",
        ATTEST_SECRET_KEY=NEW,
        ATTEST_PREVIOUS_SECRET_KEYS=OLD,
    )
    assert fixed.returncode == 0, fixed.stdout
    assert "2 sealed again under the current secret key, 1 already under it." in fixed.stdout
    engine.dispose()


def test_rotate_secret_with_no_secret_key_configured_makes_none_up(tmp_path: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    person = make_person(engine, Keys(OLD), "supplier_lead")
    before = stored_key(engine, person)
    missing = attest(tmp_path, database_url, "keys", "rotate-secret", ATTEST_PREVIOUS_SECRET_KEYS=OLD)
    assert missing.returncode == 2
    assert missing.stderr.startswith("attest: error: ATTEST_SECRET_KEY is not set")
    assert not (tmp_path / "var" / "secret_key").exists()
    assert stored_key(engine, person) == before
    engine.dispose()


# --- 3. recovery codes ------------------------------------------------------------------------


def test_recovery_codes_made_under_the_old_secret_work_until_it_is_dropped(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    person = make_person(engine, Keys(OLD), "supplier_lead")
    codes = recovery_codes(engine, Keys(OLD), person)
    rotation = {"secret_key": NEW, "previous_secret_keys": OLD}

    with served(tmp_path, database_url, **rotation) as (_, client):
        assert second_factor(client, person, codes[0]) == 303
        assert signed_in_as(client) == person.email

    report = attest(
        tmp_path,
        database_url,
        "keys",
        "rotate-secret",
        ATTEST_SECRET_KEY=NEW,
        ATTEST_PREVIOUS_SECRET_KEYS=OLD,
    )
    assert report.returncode == 0
    assert "Recovery codes: 9 unused; they cannot be re-hashed" in report.stdout

    with served(tmp_path, database_url, secret_key=NEW) as (_, client):  # the old key dropped
        assert second_factor(client, person, codes[1]) == 422
        assert signed_in_as(client) is None
        # Their authenticator still works (it was sealed again), and new codes are under the new key.
        assert second_factor(client, person, person.code()) == 303
    fresh = recovery_codes(engine, Keys(NEW), person)
    with served(tmp_path, database_url, secret_key=NEW) as (_, client):
        assert second_factor(client, person, fresh[0]) == 303
    engine.dispose()


# --- 4. CSRF tokens ---------------------------------------------------------------------------


def test_a_form_rendered_before_the_rotation_submits_while_the_old_key_is_listed(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    person = make_person(engine, Keys(OLD), "supplier_lead")
    engine.dispose()
    with served(tmp_path, database_url, secret_key=OLD) as (_, client):
        form = client.get("/sign-in")
        token, cookies = page_token(form.text), dict(client.cookies)
    submitted = {"email": person.email, "password": PASSWORD, "next": "/", "csrf_token": token}

    with served(tmp_path, database_url, secret_key=NEW, previous_secret_keys=OLD) as (_, client):
        client.cookies.update(cookies)  # the same browser, after the restart
        assert client.post("/sign-in", data=submitted, follow_redirects=False).status_code == 303
        assert page_token(client.get("/sign-in").text) != token  # new pages carry new-key tokens

    with served(tmp_path, database_url, secret_key=NEW) as (_, client):  # the old key dropped
        client.cookies.update(cookies)
        refused = client.post("/sign-in", data=submitted, follow_redirects=False)
        assert refused.status_code == 403
        assert FAILED in refused.text


def test_sessions_and_api_tokens_outlive_the_rotation(tmp_path: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    person = make_person(engine, Keys(OLD), "supplier_lead")
    with session_scope(engine, write=True) as session:
        _, token = sessions.create_token(
            session, session.get_one(User, person.user.id), name="script", expires_days=30, now=utcnow()
        )
        session.commit()
    engine.dispose()
    with served(tmp_path, database_url, secret_key=OLD) as (app, client):
        sign_in(app, client, person)
        cookies = dict(client.cookies)
    with served(tmp_path, database_url, secret_key=NEW) as (_, client):  # even with no previous key
        client.cookies.update(cookies)
        assert signed_in_as(client) == person.email  # only hashes of session cookies are stored
        client.cookies.clear()
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["email"] == person.email


# --- 5. the audit chain -----------------------------------------------------------------------


def test_the_audit_chain_verifies_across_audit_key_rotations_and_still_catches_tampering(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    # Era 1, no ATTEST_AUDIT_KEY: the chain is keyed by the secret. Era 2: ATTEST_AUDIT_KEY set for
    # the first time (the secret's own audit key is then read with). Era 3: the audit key rotated.
    era1 = {"secret_key": OLD}
    era2 = {"secret_key": OLD, "audit_key": AUDIT_OLD}
    era3 = {"secret_key": OLD, "audit_key": AUDIT_NEW, "previous_audit_keys": AUDIT_OLD}
    for era in (era1, era2, era3):  # the app writes with the keys its settings give it
        keys = Keys.from_settings(make_settings(tmp_path, database_url, **era))
        record_events(engine, keys.audit, 2)
        if era is era2:  # the hourly `attest audit checkpoint` before the rotation
            with session_scope(engine) as session:
                audit.write_checkpoint(session, tmp_path / "var" / "audit-checkpoints.log", keys.audit)
    env = {f"ATTEST_{name.upper()}": value for name, value in era3.items()}

    checkpoint = attest(tmp_path, database_url, "audit", "checkpoint", "--json", **env)
    assert checkpoint.returncode == 0, checkpoint.stderr
    [head] = [
        chain for chain in json.loads(checkpoint.stdout)["chains"] if chain["chain"] == "organisation:o1"
    ]
    assert head["seq"] == 6 and head["key_id"] == key_id(Keys(OLD, audit_key=AUDIT_NEW).audit)  # the new key
    verified = attest(tmp_path, database_url, "audit", "verify", **env)
    assert verified.returncode == 0, verified.stdout
    # Two chains: the organisation's and the installation's (empty, its head row made at migration).
    assert verified.stdout.strip() == "audit log intact: 6 records in 2 chains"

    # The previous keys forgotten: their records cannot be checked. The checkpoint taken before
    # the rotation names a key that is not configured, so this is a missing key, not tampering.
    only_new = {"ATTEST_SECRET_KEY": NEW, "ATTEST_AUDIT_KEY": AUDIT_NEW}
    forgot = attest(tmp_path, database_url, "audit", "verify", **only_new)
    assert forgot.returncode == 3, forgot.stdout
    old_id = key_id(Keys(OLD, audit_key=AUDIT_OLD).audit)
    assert forgot.stdout.strip() == (
        "audit log NOT VERIFIED: an earlier audit key is missing: the records before the rotation were "
        f"written under a key that is not configured (the checkpoints name key id {old_id}); put it in "
        "ATTEST_PREVIOUS_AUDIT_KEYS (or, if it was a secret key, ATTEST_PREVIOUS_SECRET_KEYS) and run "
        "this again"
    )
    assert "BROKEN" not in forgot.stdout and "altered" not in forgot.stdout

    # With every key listed, an edit of a record of the middle era is still tampering.
    tamper(
        engine, "UPDATE audit_event SET action = 'nothing' WHERE chain = 'organisation:o1' AND chain_seq = 3"
    )
    tampered = attest(tmp_path, database_url, "audit", "verify", **env)
    assert tampered.returncode == 1
    assert "BROKEN at record" in tampered.stdout and "position 3): record" in tampered.stdout
    assert "was altered (its hash does not match)" in tampered.stdout
    assert "earlier audit key" not in tampered.stdout  # records before it verified: not a key problem
    engine.dispose()


def test_verify_without_the_previous_audit_key_reports_a_wrong_key_not_tampering(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    record_events(engine, Keys(OLD, audit_key=AUDIT_OLD).audit, 3)
    rotated = {"ATTEST_SECRET_KEY": OLD, "ATTEST_AUDIT_KEY": AUDIT_NEW}
    forgot = attest(tmp_path, database_url, "audit", "verify", **rotated)
    assert forgot.returncode == 3, forgot.stdout
    assert "audit log NOT VERIFIED: the audit key is wrong or missing" in forgot.stdout
    assert "BROKEN" not in forgot.stdout and "altered" not in forgot.stdout
    listed = attest(
        tmp_path, database_url, "audit", "verify", ATTEST_PREVIOUS_AUDIT_KEYS=AUDIT_OLD, **rotated
    )
    assert listed.returncode == 0, listed.stdout
    engine.dispose()


# --- 6. installations that set ATTEST_AUDIT_KEY before rotation existed ----------------------


def test_an_installation_whose_audit_key_once_keyed_everything_still_opens_its_totp_keys(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    # Before key rotation, a set ATTEST_AUDIT_KEY stood in for the secret for every purpose.
    then = Keys(AUDIT_OLD)
    person = make_person(engine, then, "supplier_lead")
    codes = recovery_codes(engine, then, person)
    record_events(engine, then.audit, 2)
    now = {"secret_key": NEW, "audit_key": AUDIT_OLD}

    with served(tmp_path, database_url, **now) as (_, client):
        assert second_factor(client, person, person.code()) == 303
        client.cookies.clear()
        assert second_factor(client, person, codes[0]) == 303
    assert opens_with(NEW, stored_key(engine, person)) == person.totp_secret  # moved to the secret

    keys = Keys.from_settings(make_settings(tmp_path, database_url, **now))
    with session_scope(engine) as session:  # the chain written then still verifies
        assert audit.verify(session, keys.audit, previous=keys.previous_audit).ok
    env = {"ATTEST_SECRET_KEY": NEW, "ATTEST_AUDIT_KEY": AUDIT_OLD}
    other = make_person(engine, then, "supplier_lead")
    resealed = attest(tmp_path, database_url, "keys", "rotate-secret", **env)
    assert resealed.returncode == 0, resealed.stdout
    assert "1 sealed again under the current secret key, 1 already under it." in resealed.stdout
    assert opens_with(NEW, stored_key(engine, other)) == other.totp_secret
    engine.dispose()


def test_an_old_secret_that_keyed_the_audit_chain_moves_to_the_previous_audit_keys(
    tmp_path: Path, database_url: str
) -> None:
    """With no ATTEST_AUDIT_KEY the secret keys the chain: once the old secret leaves
    ATTEST_PREVIOUS_SECRET_KEYS, listing it in ATTEST_PREVIOUS_AUDIT_KEYS keeps its records
    verifiable (and reads nothing else with it)."""
    engine = make_engine(database_url)
    record_events(engine, Keys(OLD).audit, 2)
    record_events(engine, Keys(NEW, previous=[OLD]).audit, 1)

    def verdict(**keys: str) -> audit.Report:
        found = Keys.from_settings(make_settings(tmp_path, database_url, **keys))
        with session_scope(engine) as session:
            return audit.verify(session, found.audit, previous=found.previous_audit)

    assert verdict(secret_key=NEW, previous_secret_keys=OLD).ok
    dropped = verdict(secret_key=NEW)
    assert not dropped.ok and "earlier audit key that is not configured" in dropped.broken[0].reason
    assert verdict(secret_key=NEW, previous_audit_keys=OLD).ok
    assert (
        Keys.from_settings(
            make_settings(tmp_path, database_url, secret_key=NEW, previous_audit_keys=OLD)
        ).previous_totp
        == ()
    )
    engine.dispose()


def test_rotating_an_audit_key_that_once_keyed_everything_keeps_it_readable_as_a_previous_secret(
    tmp_path: Path, database_url: str
) -> None:
    """README: an installation from before rotation rotates ATTEST_AUDIT_KEY after `rotate-secret`,
    or lists the old audit key in ATTEST_PREVIOUS_SECRET_KEYS too (then keys sealed under it open)."""
    engine = make_engine(database_url)
    person = make_person(engine, Keys(AUDIT_OLD), "supplier_lead")  # sealed before the upgrade
    rotated = {"secret_key": NEW, "audit_key": AUDIT_NEW, "previous_audit_keys": AUDIT_OLD}

    def opens(**keys: str) -> bool:
        found = Keys.from_settings(make_settings(tmp_path, database_url, **keys))
        with session_scope(engine) as session:
            try:
                return (
                    accounts.totp_secret(found, session.get_one(User, person.user.id)) == person.totp_secret
                )
            except UndecryptableSecret:
                return False

    assert opens(secret_key=NEW, audit_key=AUDIT_OLD)
    assert not opens(**rotated)
    assert opens(**rotated, previous_secret_keys=AUDIT_OLD)
    engine.dispose()
