"""Alembic environment: the engine comes from app.migrate (or ATTEST_DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from app import models
from app.config import get_settings
from app.db import make_engine

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:
    engine = make_engine(get_settings().effective_database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # One transaction for the whole run on SQLite too (app.db emits BEGIN itself, so DDL
        # is transactional there): a migration that refuses part-way leaves the database
        # exactly as it was, not at some revision in between.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
