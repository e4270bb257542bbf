"""imported catalogues: OSCAL catalogs and profiles imported as catalogues (issue 17 item 6)

`imported_catalogue`: one row per imported catalogue, with the OSCAL document as uploaded, its
SHA-256, the catalogue built from it, who imported it and when. New table; nothing existing
changes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imported_catalogue",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("control_count", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("catalogue", sa.Text(), nullable=False),
        sa.Column("imported_by_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("organisation_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["imported_by_id"],
            ["user_account.id"],
            name=op.f("fk_imported_catalogue_imported_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_imported_catalogue_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_catalogue")),
    )


def downgrade() -> None:
    op.drop_table("imported_catalogue")
