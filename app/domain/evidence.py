"""The closed sets an evidence item is described with: what kind of document it is and its
Government Security Classification marking (OFFICIAL, or OFFICIAL with the SENSITIVE handling
caveat). The values are the stored strings."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    POLICY = "policy"
    PROCEDURE = "procedure"
    CERTIFICATE = "certificate"
    REPORT = "report"
    SCREENSHOT = "screenshot"
    OTHER = "other"


class Marking(StrEnum):
    OFFICIAL = "OFFICIAL"
    OFFICIAL_SENSITIVE = "OFFICIAL-SENSITIVE"
