"""Catalogues imported from OSCAL (issue 17 item 6): kept in the database, not in controls/, so
that every worker of the service sees the same library (app.services.catalogue_imports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from app.models.base import utc_column, utcnow

__all__ = ["ImportedCatalogue"]


class ImportedCatalogue(SQLModel, table=True):
    """One imported catalogue: the OSCAL document as uploaded (`document`, validated with
    compliance-trestle; `kind` catalog or profile), its SHA-256 and size, the catalogue built
    from it (`catalogue`, app.adapters.catalogue_json), and who imported it, from which
    organisation, when. The id is the catalogue id (engagements name it)."""

    __tablename__ = "imported_catalogue"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    title: str = Field(max_length=300)
    sha256: str = Field(max_length=64)
    size_bytes: int
    control_count: int
    document: str = Field(sa_column=Column(Text, nullable=False))
    catalogue: str = Field(sa_column=Column(Text, nullable=False))
    imported_by_id: str | None = Field(default=None, foreign_key="user_account.id", max_length=32)
    organisation_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=32)
    imported_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
