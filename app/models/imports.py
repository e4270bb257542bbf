"""Column choices for answer imports, remembered per supplier organisation (issue 17 item 2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column, utcnow

__all__ = ["ImportMapping"]


class ImportMapping(SQLModel, table=True):
    """The column choices (JSON: field -> heading) an organisation last used for a sheet whose
    normalised set of headings hashes to `headings_key` (SHA-256, app.domain.imports.headings_key).
    Only that organisation's imports read it."""

    __tablename__ = "import_mapping"
    __table_args__ = (UniqueConstraint("organisation_id", "headings_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    organisation_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    headings_key: str = Field(max_length=64)
    mapping: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    chosen_by_id: str | None = Field(default=None, foreign_key="user_account.id", max_length=32)
    chosen_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
