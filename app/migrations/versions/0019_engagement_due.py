"""engagement due items: the "due soon" panel read from stored summaries (issue 18)

`engagement_due`: each engagement's own open items within the "due soon" window of the day its
summary was computed for (annual certificate submissions, workflow deadlines), written and
replaced with the summary (app.services.certificates.glance), so the home page no longer
computes every engagement's deadlines. A new table; nothing existing changes. It starts empty:
the summaries of 0017 carry no stored items, so they are stale until recomputed (their library
key is unchanged, so this migration clears them instead: each is recomputed on first use).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagement_due",
        sa.Column("engagement_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("link", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagement.id"],
            name=op.f("fk_engagement_due_engagement_id_engagement"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("engagement_id", "position", name=op.f("pk_engagement_due")),
    )
    # summaries stored before this revision hold no due items: drop them (recomputed on first use)
    op.execute("DELETE FROM engagement_need")
    op.execute("DELETE FROM engagement_summary")


def downgrade() -> None:
    op.drop_table("engagement_due")
