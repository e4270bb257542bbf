"""engagement summaries: what the portfolio sorts and pages by, stored per engagement (issue 18)

`engagement_stamp`: one counter per engagement, moved on by every write that can change its
summary (app.services.stamps). `engagement_summary`: the readiness score, blockers, next open
deadline, certificate state and trend as computed for one stamp revision, one day and one set of
catalogues; `engagement_need`: its required certificates needing attention (the portfolio's
counts). New tables; nothing existing changes. They start empty: a missing summary is computed
on first use.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagement_stamp",
        sa.Column("engagement_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagement.id"],
            name=op.f("fk_engagement_stamp_engagement_id_engagement"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("engagement_id", name=op.f("pk_engagement_stamp")),
    )
    op.create_table(
        "engagement_summary",
        sa.Column("engagement_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("computed_on", sa.Date(), nullable=False),
        sa.Column("library", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("blockers", sa.Integer(), nullable=False),
        sa.Column("certificates", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("deadline_on", sa.Date(), nullable=True),
        sa.Column("deadline", sa.Text(), nullable=True),
        sa.Column("trend", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagement.id"],
            name=op.f("fk_engagement_summary_engagement_id_engagement"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("engagement_id", name=op.f("pk_engagement_summary")),
    )
    op.create_table(
        "engagement_need",
        sa.Column("engagement_id", sa.String(length=32), nullable=False),
        sa.Column("holder_key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("requirement", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagement.id"],
            name=op.f("fk_engagement_need_engagement_id_engagement"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "engagement_id", "holder_key", "requirement", name=op.f("pk_engagement_need")
        ),
    )


def downgrade() -> None:
    op.drop_table("engagement_need")
    op.drop_table("engagement_summary")
    op.drop_table("engagement_stamp")
