"""incident process: the loss-reporting hours are optional

CPS Security Policy 4.9 sets 24 hours to report and 48 hours to trace lost material, but only
contracts that include the CPS Security Policy impose them. Schedule 2.4 and Call Off Schedule 7
leave the timings to the agreed incident process, so a plan under them may state no hours.
Existing rows keep the hours they were saved with.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident_process", schema=None) as batch_op:
        batch_op.alter_column("report_loss_hours", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("trace_loss_hours", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # The old schema needs a number; the CPS maxima are the only hours the old code accepted.
    op.execute(sa.text("UPDATE incident_process SET report_loss_hours = 24 WHERE report_loss_hours IS NULL"))
    op.execute(sa.text("UPDATE incident_process SET trace_loss_hours = 48 WHERE trace_loss_hours IS NULL"))
    with op.batch_alter_table("incident_process", schema=None) as batch_op:
        batch_op.alter_column("report_loss_hours", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("trace_loss_hours", existing_type=sa.Integer(), nullable=False)
