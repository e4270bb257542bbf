"""downloads: files made in the background for one person (issue 17 item 8)

`download`: one row per requested big export (engagement workbook, register, Statement of
Applicability, evidence bundle) with its state, progress and, once ready, the evidence store's
named object that holds the file until it expires. New table; nothing existing changes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "download",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("engagement_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("object_name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_from", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["engagement_id"], ["engagement.id"], name=op.f("fk_download_engagement_id_engagement")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_download_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_download")),
    )
    with op.batch_alter_table("download", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_download_engagement_id"), ["engagement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_download_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_download_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("download", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_download_user_id"))
        batch_op.drop_index(batch_op.f("ix_download_state"))
        batch_op.drop_index(batch_op.f("ix_download_engagement_id"))
    op.drop_table("download")
