"""import mappings: column choices for answer imports, remembered per organisation (issue 17)

`import_mapping`: one row per supplier organisation and sheet layout (the SHA-256 of the sheet's
normalised set of headings) with the column choices last used for it. New table; nothing
existing changes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_mapping",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("organisation_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("headings_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("chosen_by_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chosen_by_id"], ["user_account.id"], name=op.f("fk_import_mapping_chosen_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_import_mapping_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_mapping")),
        sa.UniqueConstraint(
            "organisation_id", "headings_key", name=op.f("uq_import_mapping_organisation_id")
        ),
    )
    with op.batch_alter_table("import_mapping", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_mapping_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("import_mapping", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_mapping_organisation_id"))
    op.drop_table("import_mapping")
