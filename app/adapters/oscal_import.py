"""Read an OSCAL 1.1 catalog or profile (JSON) as a new Attest catalogue (issue 17 item 6).

The document is checked with compliance-trestle's pydantic models first; every problem is
listed with its path in the document (`catalog.groups.0.controls.3.id`) and nothing is built
from a document with one. Then:

- a **catalog**: each group becomes a section (a nested group's title follows its parent's,
  "Access control: Remote access"); controls outside any group go in a section "Controls"; a
  control's nested controls (enhancements) follow it in its section. A control's id is its
  `label` prop (what people cite), else its OSCAL id. Its requirement is the prose of its
  `statement` part with the items under it, each after its label, and parameters written in as
  "[their label]"; its guidance is the `guidance` part; the evidence expected is the
  `assessment-objective` (or `objective`/`assessment`) part. Attest's own props (in
  app.adapters.oscal.NAMESPACE: criticality, evidence-required, applies-if, recurrence,
  source-clause; `alt-identifier` aliases) are read back, so Attest's own export round-trips.
  Links to another Attest control (`/api/catalogues/<id>/controls/<control>`) become mappings;
  "covered-by" (the other side of a covers mapping) is left to the control that declares it.
  Withdrawn controls (`status` prop) are left out;
- a **profile**: each `imports[].href` must name a catalogue of this library, as its export
  address `/api/catalogues/<id>/oscal` (absolute or relative, or `#uuid` of a back-matter
  resource with such an rlink); `include-all` or `include-controls[].with-ids` chooses controls
  (OSCAL ids or Attest ids), `exclude-controls` removes some. The chosen controls are copied
  under new ids (the new catalogue's id in capitals as prefix: `BUYER-POLICY-CPS-1.1`), each
  mapped as equivalent to the control it copies. `modify` and `merge` are not applied.

The control's source clause is the label (each control is its own clause of the source).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from app.adapters.oscal import NAMESPACE, token
from app.domain.catalogue import (
    Catalogue,
    Control,
    Criticality,
    Library,
    Recurrence,
    Relation,
    Section,
)
from app.domain.catalogue import Mapping as ControlMapping

KINDS = ("catalog", "profile")
MAX_PROBLEMS = 200
DEFAULT_EVIDENCE = "Evidence that shows this control is in place and working."
_PARAM = re.compile(r"\{\{\s*insert:\s*param,\s*([^\s}]+)\s*\}\}")
_EXPORT = re.compile(r"/api/catalogues/([^/]+)/oscal(?:\.json)?/?$")
_CONTROL = re.compile(r"/api/catalogues/([^/]+)/controls/([^/]+)/?$")
RELATIONS = {
    "equivalent-to": Relation.EQUIVALENT,
    "rests-on": Relation.COVERS,
    "related-to": Relation.RELATED,
}


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # where in the document (dotted), or the form field; empty for the whole file
    message: str


class ImportRefused(Exception):
    """The document cannot become a catalogue: every reason, each with where it is."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message if problems else "refused")
        self.problems = problems[:MAX_PROBLEMS]


def read_document(data: bytes) -> tuple[str, dict[str, Any]]:
    """The kind (`catalog` or `profile`) and the document, validated with trestle's models."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportRefused([Problem("", "The file is not text in UTF-8: upload the OSCAL JSON.")]) from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise ImportRefused([Problem("", f"The file is not JSON ({error.msg} at {where}).")]) from None
    kinds = [k for k in KINDS if isinstance(document, dict) and k in document]
    if len(kinds) != 1 or len(document) != 1:
        message = "An OSCAL document in JSON has one top-level member, `catalog` or `profile`."
        raise ImportRefused([Problem("", message)])
    kind = kinds[0]
    problems = schema_problems(kind, document[kind])
    if problems:
        raise ImportRefused(problems)
    return kind, document[kind]


def schema_problems(kind: str, body: Any) -> list[Problem]:
    """What trestle's model of the OSCAL `kind` finds wrong in `body` (path + message each)."""
    from pydantic import ValidationError
    from trestle.oscal.catalog import Catalog
    from trestle.oscal.profile import Profile

    model = Catalog if kind == "catalog" else Profile
    try:
        model.model_validate(body)
    except ValidationError as error:
        return [
            Problem(".".join([kind, *(str(part) for part in e["loc"])]), e["msg"])
            for e in error.errors(include_url=False)
        ]
    return []


def suggested_id(body: Mapping[str, Any]) -> str:
    """A catalogue id from the document's title (lower case words joined by hyphens)."""
    title = str(body.get("metadata", {}).get("title", ""))
    return "-".join(re.findall(r"[a-z0-9]+", title.casefold()))[:48].strip("-")


def _props(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(raw.get("props") or [])


def _prop(raw: Mapping[str, Any], name: str, *, ours: bool = False) -> str | None:
    for p in _props(raw):
        if p.get("name") == name and (not ours or p.get("ns") == NAMESPACE):
            return str(p.get("value", ""))
    return None


def _params(raw: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for param in raw.get("params") or []:
        choice = (param.get("select") or {}).get("choice") or []
        text = param.get("label") or ("one of: " + "; ".join(choice) if choice else param.get("id", ""))
        out[str(param.get("id", ""))] = str(text)
    return out


def _prose(part: Mapping[str, Any], params: Mapping[str, str]) -> str:
    lines = []
    if part.get("prose"):
        lines.append(_PARAM.sub(lambda m: f"[{params.get(m.group(1), m.group(1))}]", str(part["prose"])))
    for sub in part.get("parts") or []:
        text = _prose(sub, params)
        label = _prop(sub, "label")
        if text:
            lines.append(f"{label} {text}" if label else text)
    return "\n".join(lines).strip()


def _part_text(raw: Mapping[str, Any], names: Iterable[str], params: Mapping[str, str]) -> str:
    wanted = set(names)
    texts = [_prose(p, params) for p in raw.get("parts") or [] if p.get("name") in wanted]
    return "\n\n".join(t for t in texts if t)


def _choice(value: str | None, allowed: type[Criticality] | type[Recurrence], where: str) -> Any:
    if value is None:
        return None
    try:
        return allowed(value)
    except ValueError:
        names = ", ".join(str(a) for a in allowed)
        raise ImportRefused([Problem(where, f"{value!r} is not one of {names}")]) from None


def _mappings(raw: Mapping[str, Any], known: Set[str]) -> tuple[ControlMapping, ...]:
    out = []
    for link in raw.get("links") or []:
        found = _CONTROL.search(urlsplit(str(link.get("href", ""))).path)
        relation = RELATIONS.get(str(link.get("rel", "")))
        if found and relation and found.group(2) in known:
            out.append(ControlMapping(found.group(2), relation))
    return tuple(out)


@dataclass
class _Walk:
    catalogue_id: str
    source_title: str
    known: Set[str]
    path: str = ""

    def controls(self, items: list[Mapping[str, Any]], section_id: str, path: str) -> list[Control]:
        out: list[Control] = []
        for i, raw in enumerate(items):
            where = f"{path}.{i}"
            if (_prop(raw, "status") or "").casefold() == "withdrawn":
                continue
            out.append(self.control(raw, section_id, where))
            out.extend(self.controls(list(raw.get("controls") or []), section_id, f"{where}.controls"))
        return out

    def control(self, raw: Mapping[str, Any], section_id: str, where: str) -> Control:
        params = _params(raw)
        label = (_prop(raw, "label") or str(raw["id"])).strip()
        title = " ".join(str(raw["title"]).split())
        evidence_required = _prop(raw, "evidence-required", ours=True)
        return Control(
            id=label,
            catalogue_id=self.catalogue_id,
            section_id=section_id,
            title=title,
            requirement=_part_text(raw, ["statement"], params) or title,
            guidance=_part_text(raw, ["guidance"], params),
            source=_prop(raw, "source-clause", ours=True) or f"{self.source_title} {label}",
            clauses=(label,),
            evidence=_part_text(raw, ["assessment-objective", "objective", "assessment"], params)
            or DEFAULT_EVIDENCE,
            evidence_required=evidence_required != "false",
            criticality=_choice(_prop(raw, "criticality", ours=True), Criticality, f"{where}.props")
            or Criticality.NORMAL,
            applies_if=_prop(raw, "applies-if", ours=True) or None,
            recurrence=_choice(_prop(raw, "recurrence", ours=True), Recurrence, f"{where}.props"),
            aliases=tuple(str(p.get("value")) for p in _props(raw) if p.get("name") == "alt-identifier"),
            mappings=_mappings(raw, self.known),
        )


def _updated(metadata: Mapping[str, Any]) -> date | None:
    value = str(metadata.get("last-modified", ""))
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _unique(section_id: str, taken: set[str]) -> str:
    candidate, n = section_id, 1
    while candidate in taken:
        n += 1
        candidate = f"{section_id}-{n}"
    taken.add(candidate)
    return candidate


def from_catalog(body: Mapping[str, Any], catalogue_id: str, known: Set[str]) -> Catalogue:
    """The catalogue an OSCAL catalog describes (`known`: control ids its links may map to)."""
    metadata = body["metadata"]
    title = " ".join(str(metadata["title"]).split())
    walk = _Walk(catalogue_id, title, known)
    sections: list[Section] = []
    taken: set[str] = set()

    def add(section_id: str, section_title: str, items: list[Mapping[str, Any]], path: str) -> None:
        sid = _unique(section_id, taken)
        controls = walk.controls(items, sid, path)
        if controls:
            sections.append(Section(sid, section_title, tuple(controls)))

    add("controls", "Controls", list(body.get("controls") or []), "catalog.controls")

    def groups(items: list[Mapping[str, Any]], parent: str, path: str) -> None:
        for i, group in enumerate(items):
            where = f"{path}.{i}"
            name = " ".join(str(group["title"]).split())
            full = f"{parent}: {name}" if parent else name
            add(
                str(group.get("id") or f"group-{len(taken) + 1}"),
                full,
                list(group.get("controls") or []),
                f"{where}.controls",
            )
            groups(list(group.get("groups") or []), full, f"{where}.groups")

    groups(list(body.get("groups") or []), "", "catalog.groups")
    if not sections:
        raise ImportRefused([Problem("catalog", "The catalog has no controls to answer.")])
    controls = [c for s in sections for c in s.controls]
    kind = _prop(metadata, "kind", ours=True)
    return Catalogue(
        id=catalogue_id,
        title=title,
        version=str(metadata["version"]),
        source=_prop(metadata, "source", ours=True) or title,
        kind=kind if kind in ("contract", "framework") else "framework",
        description=" ".join(str(metadata.get("remarks") or "").split()) or f"{title}, imported from OSCAL.",
        id_prefix="",
        source_clauses=tuple(dict.fromkeys(clause for c in controls for clause in c.clauses)),
        sections=tuple(sections),
        updated=_updated(metadata),
    )


def _href_catalogue(href: str, body: Mapping[str, Any], library: Library) -> str | None:
    if href.startswith("#"):
        resources = (body.get("back-matter") or {}).get("resources") or []
        resource = next((r for r in resources if r.get("uuid") == href[1:]), None)
        links = [str(link.get("href", "")) for link in (resource or {}).get("rlinks") or []]
        return next((c for link in links if (c := _href_catalogue(link, body, library))), None)
    found = _EXPORT.search(urlsplit(href).path)
    if found and library.catalogue(found.group(1)) is not None:
        return found.group(1)
    return None


def _ids(selections: list[Mapping[str, Any]]) -> list[str]:
    return [str(i) for s in selections for i in s.get("with-ids") or []]


def from_profile(body: Mapping[str, Any], catalogue_id: str, library: Library) -> Catalogue:
    """The catalogue a profile selects from catalogues of `library` (rules in the docstring)."""
    metadata = body["metadata"]
    prefix = f"{catalogue_id.upper()}-"
    problems: list[Problem] = []
    sections: list[Section] = []
    sources: list[Catalogue] = []
    names = ", ".join(f"/api/catalogues/{c.id}/oscal" for c in library.catalogues)
    for i, imported in enumerate(body["imports"]):
        where = f"profile.imports.{i}"
        href = str(imported["href"])
        source_id = _href_catalogue(href, body, library)
        source = library.catalogue(source_id) if source_id else None
        if source is None:
            problems.append(Problem(f"{where}.href", f"{href!r} names no catalogue here: use one of {names}"))
            continue
        sources.append(source)
        by_id = {token(c.id): c for c in source.controls} | {c.id: c for c in source.controls}
        include = list(imported.get("include-controls") or [])
        wanted = (
            [c.id for c in source.controls] if imported.get("include-all") is not None or not include else []
        )
        for n, ident in enumerate(_ids(include)):
            if ident not in by_id:
                problems.append(
                    Problem(f"{where}.include-controls", f"{source.id} has no control {ident!r} (#{n + 1})")
                )
            else:
                wanted.append(by_id[ident].id)
        dropped = {by_id[i].id for i in _ids(list(imported.get("exclude-controls") or [])) if i in by_id}
        chosen = set(wanted) - dropped
        for section in source.sections:
            sid = f"{source.id}-{section.id}"
            copies = tuple(
                replace(
                    c,
                    id=prefix + c.id,
                    catalogue_id=catalogue_id,
                    section_id=sid,
                    mappings=(ControlMapping(c.id, Relation.EQUIVALENT),),
                    short_form_clauses=(),
                )
                for c in section.controls
                if c.id in chosen
            )
            if copies:
                sections.append(Section(sid, f"{source.title}: {section.title}", copies))
    if problems:
        raise ImportRefused(problems)
    if not sections:
        raise ImportRefused([Problem("profile.imports", "The profile selects no controls.")])
    title = " ".join(str(metadata["title"]).split())
    controls = [c for s in sections for c in s.controls]
    return Catalogue(
        id=catalogue_id,
        title=title,
        version=str(metadata["version"]),
        source="Profile of " + ", ".join(dict.fromkeys(s.title for s in sources)),
        kind=sources[0].kind,
        description=" ".join(str(metadata.get("remarks") or "").split()) or f"{title}, imported from OSCAL.",
        id_prefix=prefix,
        source_clauses=tuple(dict.fromkeys(clause for c in controls for clause in c.clauses)),
        sections=tuple(sections),
        updated=_updated(metadata),
    )
