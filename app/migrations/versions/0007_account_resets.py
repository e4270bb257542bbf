"""account resets: invitation purpose and pending credentials

An invitation to an account that already has credentials is a reset: the new password and key
wait on the invitation until a code confirms them. Links issued before this revision to such
accounts were shown to whoever asked for them, so they stop working here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="invite")
        )
        batch_op.add_column(
            sa.Column("pending_password_hash", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "pending_totp_secret_encrypted", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True
            )
        )
    op.execute(
        sa.text(
            "UPDATE invitation SET used_at = :now WHERE used_at IS NULL AND user_id IN ("
            "SELECT id FROM user_account WHERE password_hash IS NOT NULL"
            " OR totp_secret_encrypted IS NOT NULL OR mfa_enrolled_at IS NOT NULL)"
        ).bindparams(sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True)))
    )


def downgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_column("pending_totp_secret_encrypted")
        batch_op.drop_column("pending_password_hash")
        batch_op.drop_column("purpose")
