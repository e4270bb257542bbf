"""Export a catalogue as an OSCAL 1.1 catalog (JSON model).

Sections become groups, controls become controls with a statement part, a
guidance part and an assessment part for the evidence an advisor expects.
Attest's own attributes travel as props in Attest's namespace. Mappings to
controls of other catalogues are links to the API address of the other control.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time
from typing import Any

from app import __version__
from app.domain.catalogue import Catalogue, Control, Library

OSCAL_VERSION = "1.1.2"
NAMESPACE = "https://attest.invalid/ns/oscal"
UUID_NAMESPACE = uuid.UUID("6f1d2f7e-3d0c-4a47-9a51-6c8f0f1b9a10")
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9._-]")


def token(value: str) -> str:
    """An OSCAL token (NCName-like) made from an Attest id."""
    cleaned = _NOT_TOKEN.sub("_", value)
    return cleaned if cleaned[:1].isalpha() or cleaned[:1] == "_" else f"_{cleaned}"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, "/".join(parts)))


def _prop(name: str, value: str) -> dict[str, str]:
    return {"name": name, "ns": NAMESPACE, "value": value}


def export_catalogue(catalogue: Catalogue, library: Library) -> dict[str, Any]:
    """The `{"catalog": {...}}` document for one catalogue."""
    updated = catalogue.updated or datetime(2026, 1, 1, tzinfo=UTC).date()
    metadata: dict[str, Any] = {
        "title": catalogue.title,
        "last-modified": datetime.combine(updated, time(), tzinfo=UTC).isoformat(),
        "version": catalogue.version,
        "oscal-version": OSCAL_VERSION,
        "props": [
            _prop("source", catalogue.source),
            _prop("kind", catalogue.kind),
            _prop("generator", f"Attest {__version__}"),
        ],
        "remarks": catalogue.description,
    }
    groups = [
        {
            "id": token(f"{catalogue.id_prefix}-section-{section.id}"),
            "class": "section",
            "title": section.title,
            "controls": [_control(c, library) for c in section.controls],
        }
        for section in catalogue.sections
        if section.controls
    ]
    return {
        "catalog": {
            "uuid": _uuid(catalogue.id, catalogue.version, library.fingerprint),
            "metadata": metadata,
            "groups": groups,
        }
    }


def _control(control: Control, library: Library) -> dict[str, Any]:
    cid = token(control.id)
    props = [
        {"name": "label", "value": control.id},
        _prop("criticality", control.criticality.value),
        _prop("source-clause", control.source),
        _prop("evidence-required", "true" if control.evidence_required else "false"),
    ]
    props += [{"name": "alt-identifier", "value": alias} for alias in control.aliases]
    if control.applies_if:
        props.append(_prop("applies-if", control.applies_if))
    if control.recurrence:
        props.append(_prop("recurrence", control.recurrence.value))
    parts: list[dict[str, Any]] = [
        {"id": f"{cid}_smt", "name": "statement", "prose": control.requirement},
        {
            "id": f"{cid}_obj",
            "name": "assessment-objective",
            "prose": control.evidence,
        },
    ]
    if control.guidance:
        parts.append({"id": f"{cid}_gdn", "name": "guidance", "prose": control.guidance})
    out: dict[str, Any] = {"id": cid, "title": control.title, "props": props, "parts": parts}
    links = [
        {
            "href": f"/api/catalogues/{link.catalogue_id}/controls/{link.control_id}",
            "rel": token(link.label.replace(" ", "-")),
            "text": link.control_id,
        }
        for link in library.links.get(control.id, ())
    ]
    if links:
        out["links"] = links
    return out
