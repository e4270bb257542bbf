"""versioned plan parts: optimistic concurrency for risks, register entries and plan parts

Risks, Required Changes Register entries and the Incident Management Process get a `version`
(existing rows start at 1), and the list of security roles gets one versioned head row per
engagement (`security_role_set`), so every save can be a conditional
`UPDATE ... WHERE version = :expected` (app.services.versioning).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED = ("risk", "register_entry", "incident_process")


def upgrade() -> None:
    for table in VERSIONED:
        # batch mode: SQLite cannot alter tables in place beyond ADD COLUMN; PostgreSQL alters directly.
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "security_role_set",
        sa.Column("engagement_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagement.id"],
            name=op.f("fk_security_role_set_engagement_id_engagement"),
        ),
        sa.PrimaryKeyConstraint("engagement_id", name=op.f("pk_security_role_set")),
    )
    # Engagements that already name their security roles start that list at version 1.
    op.execute(
        "INSERT INTO security_role_set (engagement_id, version, updated_by_id, updated_at) "
        "SELECT engagement_id, 1, 'migration', CURRENT_TIMESTAMP FROM security_role GROUP BY engagement_id"
    )


def downgrade() -> None:
    op.drop_table("security_role_set")
    for table in reversed(VERSIONED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
