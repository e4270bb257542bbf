"""audit chains: one tamper-evident chain per tenant instead of one for the installation

- `audit_event.chain`, `audit_event.chain_seq`: the chain a record belongs to and its place in it
  (unique together); `audit_event.hash_version`: which fields its hash covers
  (app.domain.audit.HashRule). Nothing that exists is re-chained: every existing record becomes
  the start of the chain "installation", at chain_seq = seq, with hash_version 1 (the rule it was
  written under), so it verifies exactly as before.
- `audit_head` is keyed by `chain` (one row per chain, locked only by writers to that chain); the
  old single row becomes the head of "installation".
- `audit_segment.chain`, `audit_segment.last_event_seq`: pruned stretches are per chain; existing
  segments are the installation's (their seqs were its positions).
- PostgreSQL: `audit_event.seq` now comes from its sequence (records were numbered by hand
  before), so the sequence is moved past the numbers already used.

The triggers that refuse UPDATE and DELETE stay; the one UPDATE this migration needs (setting
chain_seq on the existing records) runs with the update trigger off for that statement only.

Downgrading is refused once any record was written as a per-tenant chain (see `downgrade`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-14 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTALLATION = "installation"
# The same statement as migration 0002's update trigger (SQLite), re-created after the backfill.
SQLITE_NO_UPDATE = """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
        BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"""


def _with_updates_allowed(statement: str) -> None:
    """Run one UPDATE on audit_event with the append-only trigger off (inside this migration's
    transaction, so no other writer ever sees the table without it)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change")
        op.execute(statement)
        op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_change")
    else:
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute(statement)
        op.execute(SQLITE_NO_UPDATE)


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        "audit_event", sa.Column("chain", sa.String(length=64), nullable=False, server_default=INSTALLATION)
    )
    op.add_column("audit_event", sa.Column("chain_seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("audit_event", sa.Column("hash_version", sa.Integer(), nullable=False, server_default="1"))
    _with_updates_allowed("UPDATE audit_event SET chain_seq = seq")
    op.create_index("ix_audit_event_chain_position", "audit_event", ["chain", "chain_seq"], unique=True)

    old_head = bind.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    last = bind.execute(sa.text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")).first()
    seq, digest = old_head if old_head is not None else last if last is not None else (0, "")
    op.drop_table("audit_head")
    op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_head")),
    )
    bind.execute(
        sa.text("INSERT INTO audit_head (chain, seq, hash) VALUES (:chain, :seq, :hash)"),
        {"chain": INSTALLATION, "seq": seq, "hash": digest},
    )

    op.add_column(
        "audit_segment", sa.Column("chain", sa.String(length=64), nullable=False, server_default=INSTALLATION)
    )
    op.add_column(
        "audit_segment", sa.Column("last_event_seq", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.execute("UPDATE audit_segment SET last_event_seq = last_seq")
    op.create_index(op.f("ix_audit_segment_chain"), "audit_segment", ["chain"], unique=False)

    if bind.dialect.name == "postgresql":
        # Move the sequence past every number in use (never back: numbers once given stay given).
        op.execute(
            """SELECT setval(pg_get_serial_sequence('audit_event', 'seq'), used)
            FROM (SELECT GREATEST(
                    (SELECT COALESCE(MAX(seq), 0) FROM audit_event),
                    (SELECT COALESCE(MAX(last_seq), 0) FROM audit_segment)) AS used) AS numbers
            WHERE used > 0 AND used >= COALESCE(
                pg_sequence_last_value(pg_get_serial_sequence('audit_event', 'seq')::regclass), 0)"""
        )


def downgrade() -> None:
    bind = op.get_bind()
    chained = bind.execute(
        sa.text(
            "SELECT COUNT(*), COUNT(DISTINCT chain) FROM audit_event "
            "WHERE hash_version <> 1 OR chain <> :installation"
        ),
        {"installation": INSTALLATION},
    ).one()
    others = bind.execute(
        sa.text(
            "SELECT (SELECT COUNT(*) FROM audit_segment WHERE chain <> :installation)"
            " + (SELECT COUNT(*) FROM audit_head WHERE chain <> :installation AND seq > 0)"
        ),
        {"installation": INSTALLATION},
    ).scalar_one()
    if chained[0] or others:
        what = (
            f"{chained[0]} audit records (in {chained[1]} chains) were written as per-tenant chains"
            if chained[0]
            else "audit records were written (and since pruned) as per-tenant chains"
        )
        raise RuntimeError(
            f"Cannot downgrade below 0011: {what} since the upgrade. Revision 0010 has one "
            "chain whose hashes cover neither the chain nor the place in it, so it could not "
            "verify these records and the log would read as tampered; joining them into one "
            "chain would mean rewriting them, which an append-only log must never do. Restore "
            "the database backup taken before the upgrade to 0011 instead, or stay on 0011."
        )
    head = bind.execute(
        sa.text("SELECT seq, hash FROM audit_head WHERE chain = :c"), {"c": INSTALLATION}
    ).first()
    seq, digest = head if head is not None else (0, "")
    op.drop_table("audit_head")
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    bind.execute(
        sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :seq, :hash)"),
        {"seq": seq, "hash": digest},
    )

    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later, PostgreSQL): a batch rebuild of
    # audit_event would drop its append-only triggers with the old table.
    op.drop_index(op.f("ix_audit_segment_chain"), table_name="audit_segment")
    op.execute(sa.text("ALTER TABLE audit_segment DROP COLUMN last_event_seq"))
    op.execute(sa.text("ALTER TABLE audit_segment DROP COLUMN chain"))
    op.drop_index("ix_audit_event_chain_position", table_name="audit_event")
    for column in ("hash_version", "chain_seq", "chain"):
        op.execute(sa.text(f"ALTER TABLE audit_event DROP COLUMN {column}"))
