"""response_change index: one control's history found without scanning every engagement's (issue 18)

The control page lists the latest history rows of one control of one engagement; with a year
of history across thousands of engagements the query scanned the whole table. Index only;
nothing existing changes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 15:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_response_change_engagement_control",
        "response_change",
        ["engagement_id", "control_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_response_change_engagement_control", table_name="response_change")
