"""the date the supplier submitted its ISMS (Call Off Schedule 7 long form para 3.1)

`engagement.isms_submitted_on`: recorded by the supplier's lead; it meets the ISMS deadline
(app.domain.deadlines, kind `isms_due`). Empty for every existing engagement.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("isms_submitted_on", sa.Date(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35 and later, PostgreSQL): a batch rebuild of `engagement`
    # would drop a table that other tables' foreign keys point at.
    op.execute(sa.text("ALTER TABLE engagement DROP COLUMN isms_submitted_on"))
