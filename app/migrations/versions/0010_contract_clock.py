"""agreed variations, the Call Off Schedule 7 form, and what an approval left outstanding

- `agreed_variation`: what the parties agreed in writing instead of a default rule (an agreed
  date for one deadline, a written direction under Schedule 2.4 para 5.5, an agreed calendar);
  see app.domain.variations.
- `engagement.call_off_form`: "short" or "long", the form of Call Off Schedule 7 the contract
  uses. Existing engagements get "long", the form whose paragraph numbers the catalogue cites.
- `decision.outstanding`: the blockers and gates an advisor acknowledged when approving with
  them still open (JSON list); existing decisions get "[]" (none recorded).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreed_variation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("engagement_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("deadline_kind", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.String(length=32), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["engagement_id"], ["engagement.id"], name=op.f("fk_agreed_variation_engagement_id_engagement")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreed_variation")),
    )
    with op.batch_alter_table("agreed_variation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreed_variation_engagement_id"), ["engagement_id"], unique=False
        )
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("call_off_form", sa.String(length=10), nullable=False, server_default="long")
        )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outstanding", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later, PostgreSQL): a batch rebuild of
    # `engagement` would drop a table that other tables' foreign keys point at.
    with op.batch_alter_table("agreed_variation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreed_variation_engagement_id"))
    op.drop_table("agreed_variation")
    op.execute(sa.text("ALTER TABLE decision DROP COLUMN outstanding"))
    op.execute(sa.text("ALTER TABLE engagement DROP COLUMN call_off_form"))
