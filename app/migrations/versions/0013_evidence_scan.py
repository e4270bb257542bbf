"""malware scans of evidence objects: one row per stored SHA-256 (app.domain.scanning)

`evidence_scan` holds each stored object's scan state (pending, clean, infected, failed), what
the scanner found and why the last attempt gave no verdict. Existing evidence gets no row: with
scanning switched on, the worker's sweep scans it (pending until then).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_scan",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_evidence_scan")),
    )
    with op.batch_alter_table("evidence_scan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_scan_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_scan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_scan_state"))
    op.drop_table("evidence_scan")
