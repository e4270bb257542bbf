"""A catalogue as JSON and back, field for field: how an imported catalogue is kept in the
database (`imported_catalogue.catalogue`), so every worker reads the same catalogue that the
import validated, without reading the OSCAL document again."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Any

from app.domain.catalogue import Catalogue, Control, Criticality, Mapping, Recurrence, Relation, Section


def dumps(catalogue: Catalogue) -> str:
    return json.dumps(asdict(catalogue), ensure_ascii=False, separators=(",", ":"), default=str)


def loads(text: str) -> Catalogue:
    raw: dict[str, Any] = json.loads(text)
    sections = tuple(
        Section(s["id"], s["title"], tuple(_control(c) for c in s["controls"])) for s in raw["sections"]
    )
    updated = raw.get("updated")
    return Catalogue(
        id=raw["id"],
        title=raw["title"],
        version=raw["version"],
        source=raw["source"],
        kind=raw["kind"],
        description=raw["description"],
        id_prefix=raw["id_prefix"],
        source_clauses=tuple(raw["source_clauses"]),
        sections=sections,
        updated=date.fromisoformat(updated) if updated else None,
        short_form_source_clauses=tuple(raw.get("short_form_source_clauses") or ()),
    )


def _control(raw: dict[str, Any]) -> Control:
    return Control(
        id=raw["id"],
        catalogue_id=raw["catalogue_id"],
        section_id=raw["section_id"],
        title=raw["title"],
        requirement=raw["requirement"],
        guidance=raw["guidance"],
        source=raw["source"],
        clauses=tuple(raw["clauses"]),
        evidence=raw["evidence"],
        evidence_required=bool(raw["evidence_required"]),
        criticality=Criticality(raw["criticality"]),
        applies_if=raw.get("applies_if"),
        recurrence=Recurrence(raw["recurrence"]) if raw.get("recurrence") else None,
        aliases=tuple(raw.get("aliases") or ()),
        keywords=tuple(raw.get("keywords") or ()),
        mappings=tuple(Mapping(m["target"], Relation(m["relation"])) for m in raw.get("mappings") or ()),
        short_form_clauses=tuple(raw.get("short_form_clauses") or ()),
    )
