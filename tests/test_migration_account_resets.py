"""Migration 0007 on SQLite and PostgreSQL: links handed out before resets existed stop working for
accounts that have credentials; links for accounts never enrolled keep working; it downgrades."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app import migrate
from app.adapters.crypto import Keys
from app.db import session_scope
from app.models import utcnow
from app.services import accounts, stamps


def test_upgrading_to_0007_ends_open_links_to_accounts_with_credentials(engine: Engine) -> None:
    config = migrate.alembic_config(engine)
    keys = Keys("migration-test-key-" + "z" * 32)
    try:
        command.downgrade(config, "0006")
        with session_scope(engine, write=True) as session:
            session.info[stamps.UNSTAMPED] = True  # no engagement_stamp table before 0017
            org = accounts.create_organisation(session, name="Migrated Ltd", kind="supplier")
            enrolled = accounts.create_user(
                session, email="old@example.com", name="Old", organisation_id=org.id, role="supplier_lead"
            )
            accounts.enrol_for_script(session, keys, enrolled, "a long test passphrase", now=utcnow())
            newcomer = accounts.create_user(
                session, email="new@example.com", name="New", organisation_id=org.id, role="supplier_lead"
            )
            ids = {"enrolled": enrolled.id, "newcomer": newcomer.id}
            session.commit()
        now = utcnow()
        with engine.begin() as connection:
            for label, user_id in ids.items():
                connection.execute(
                    text(
                        "INSERT INTO invitation (id, user_id, token_hash, created_at, expires_at)"
                        " VALUES (:id, :user_id, :hash, :now, :expires)"
                    ),
                    {
                        "id": label,
                        "user_id": user_id,
                        "hash": label.ljust(64, "0"),
                        "now": now,
                        "expires": now + timedelta(days=7),
                    },
                )
    finally:
        command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, purpose, used_at FROM invitation")).all()
    state = {row[0]: (row[1], row[2] is not None) for row in rows}
    assert state == {"enrolled": ("invite", True), "newcomer": ("invite", False)}


def test_0007_downgrades_and_upgrades_again(engine: Engine) -> None:
    config = migrate.alembic_config(engine)
    try:
        command.downgrade(config, "0006")
        with engine.connect() as connection:
            columns = connection.execute(text("SELECT * FROM invitation")).keys()
        assert "purpose" not in columns and "pending_password_hash" not in columns
    finally:
        command.upgrade(config, "head")
    assert migrate.is_current(engine)
