"""The Required Changes Register's closed sets (Schedule 2.4 definitions): where an entry came
from (a gap in the assessment, a change notice, or typed in) and how far its change has got.
The values are the stored strings."""

from __future__ import annotations

from enum import StrEnum


class EntrySource(StrEnum):
    GAP = "gap"
    CHANGE_NOTICE = "change_notice"
    MANUAL = "manual"


class EntryStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
