"""What the pages across engagements sort and page by, stored per engagement (issue 18 item 6).

`engagement_stamp`: a counter per engagement, moved on by every write that can change what its
summary shows (app.services.stamps watches the tables at the session's flush and at bulk
statements). No row: never moved (revision 0).

`engagement_summary`: the readiness score, blockers, next open deadline, certificate state,
trend and certificate needs as computed for one stamp revision, one day (`computed_on`:
deadlines and expiries move with the date) and one set of catalogues (`library`, the library's
fingerprint). A row whose revision, day or library differs is stale: it is recomputed before it
is used (app.services.certificates.glance).

`engagement_due`: the engagement's own open items in the "due soon" window of that day (annual
certificate submissions and workflow deadlines, app.domain.reminders.due_soon_window), stored
with the summary so the home page reads them instead of computing every engagement's deadlines."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Column, ForeignKey, String, Text
from sqlmodel import Field, SQLModel

__all__ = ["EngagementDue", "EngagementNeed", "EngagementStamp", "EngagementSummary"]


class EngagementStamp(SQLModel, table=True):
    __tablename__ = "engagement_stamp"

    engagement_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("engagement.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    revision: int = 0


class EngagementSummary(SQLModel, table=True):
    __tablename__ = "engagement_summary"

    engagement_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("engagement.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    revision: int  # the stamp's revision the values were computed at
    computed_on: date  # the day they were computed for
    library: str = Field(max_length=64)  # the catalogues' fingerprint
    score: float
    blockers: int
    certificates: str | None = Field(default=None, max_length=16)  # the worst required; None: none
    deadline_on: date | None = None  # the next open (due or overdue) deadline's date, to sort by
    # that deadline as the page shows it (JSON: due_on, kind, state, late, subject)
    deadline: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    trend: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list of scores


class EngagementNeed(SQLModel, table=True):
    """A required certificate of an engagement's summary that needs attention (expiring, expired,
    missing): the portfolio's counts, one per supplier, holder and requirement."""

    __tablename__ = "engagement_need"

    engagement_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("engagement.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    holder_key: str = Field(primary_key=True, max_length=32)  # "": the supplier itself
    requirement: str = Field(primary_key=True, max_length=200)
    state: str = Field(max_length=16)


class EngagementDue(SQLModel, table=True):
    """One open item of an engagement's summary due within the summary day's "due soon" window
    (app.domain.reminders.Item without its supplier, which is the engagement's)."""

    __tablename__ = "engagement_due"

    engagement_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("engagement.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    position: int = Field(primary_key=True)  # its place in the engagement's list
    kind: str = Field(max_length=64)
    object_id: str = Field(max_length=200)
    due_on: date
    subject: str = Field(sa_column=Column(Text, nullable=False))
    link: str = Field(max_length=200)


# Every process that has these tables also has the watch that keeps the stamps moving.
import app.services.stamps  # noqa: E402, F401
