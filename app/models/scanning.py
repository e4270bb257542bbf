"""The malware scan of each stored evidence object (app.domain.scanning)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.domain.scanning import ScanState
from app.models.base import EnumText, utc_column, utcnow

__all__ = ["EvidenceScan"]


class EvidenceScan(SQLModel, table=True):
    """One row per stored object (its SHA-256, shared by every evidence row with those bytes)."""

    __tablename__ = "evidence_scan"

    sha256: str = Field(primary_key=True, max_length=64)
    state: ScanState = Field(
        default=ScanState.PENDING,
        sa_column=Column(EnumText(ScanState, 16), nullable=False, default=ScanState.PENDING, index=True),
    )
    signature: str | None = Field(default=None, max_length=200)  # what the scanner found
    detail: str = Field(default="", max_length=500)  # why the last attempt gave no verdict
    attempts: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    scanned_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
