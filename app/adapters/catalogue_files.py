"""Adapter: read controls/*.toml into the pure catalogue types and validate them.

A broken file raises CatalogueError whose message names the file, the control id
and the field, so that start-up can stop with one clear line.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.domain.catalogue import (
    Catalogue,
    Control,
    Criticality,
    Library,
    Mapping,
    Recurrence,
    Relation,
    ScopingQuestion,
    Section,
    build_library,
    validate,
)

SCOPING_FILE = "scoping.toml"


class CatalogueError(Exception):
    """A catalogue file is missing, unreadable or breaks a rule."""


def load_library(directory: Path) -> Library:
    """Every catalogue in `directory` plus the scoping questions, validated."""
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: not a folder of catalogue files")
    questions = _load_questions(directory / SCOPING_FILE)
    files = sorted(p for p in directory.glob("*.toml") if p.name != SCOPING_FILE)
    if not files:
        raise CatalogueError(f"{directory}: no catalogue files (*.toml)")
    catalogues = [load_catalogue(p) for p in files]
    problems = validate(catalogues, questions)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CatalogueError(problems[0] + more)
    digest = hashlib.sha256()
    for path in [directory / SCOPING_FILE, *files]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return build_library(catalogues, questions, digest.hexdigest()[:32])


@lru_cache(maxsize=4)
def cached_library(directory: str) -> Library:
    return load_library(Path(directory))


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogueError(f"{path.name}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise CatalogueError(f"{path.name}: not valid TOML: {error}") from None


def _load_questions(path: Path) -> list[ScopingQuestion]:
    data = _read(path)
    out = []
    for i, raw in enumerate(data.get("questions", [])):
        where = f"{path.name}: question {raw.get('id', f'#{i + 1}')}"
        out.append(
            ScopingQuestion(
                id=_text(raw, "id", where),
                text=_text(raw, "text", where),
                help=_text(raw, "help", where, required=False),
            )
        )
    return out


def load_catalogue(path: Path) -> Catalogue:
    data = _read(path)
    head = data.get("catalogue")
    if not isinstance(head, dict):
        raise CatalogueError(f"{path.name}: [catalogue]: table missing")
    where = f"{path.name}: [catalogue]"
    cat_id = _text(head, "id", where)
    if cat_id != path.stem:
        raise CatalogueError(f"{where}: id: {cat_id!r} must equal the file name {path.stem!r}")
    controls_by_section: dict[str, list[Control]] = {}
    section_titles: dict[str, str] = {}
    for raw in _tables(data, "sections", path.name):
        sid = _text(raw, "id", f"{path.name}: section")
        section_titles[sid] = _text(raw, "title", f"{path.name}: section {sid}")
        controls_by_section[sid] = []
    for raw in _tables(data, "controls", path.name):
        control = _control(raw, cat_id, path.name)
        if control.section_id not in controls_by_section:
            raise CatalogueError(
                f"{path.name}: control {control.id}: section: unknown section {control.section_id!r}"
            )
        controls_by_section[control.section_id].append(control)
    sections = tuple(
        Section(sid, section_titles[sid], tuple(controls)) for sid, controls in controls_by_section.items()
    )
    return Catalogue(
        id=cat_id,
        title=_text(head, "title", where),
        version=_text(head, "version", where),
        source=_text(head, "source", where),
        kind=_choice(head, "kind", where, ("contract", "framework")),
        description=_text(head, "description", where),
        id_prefix=_text(head, "id_prefix", where),
        source_clauses=_strings(head, "source_clauses", where),
        sections=sections,
        updated=_date(head, "updated", where),
        short_form_source_clauses=_strings(head, "short_form_source_clauses", where, required=False),
    )


def _control(raw: dict[str, Any], cat_id: str, file: str) -> Control:
    cid = raw.get("id")
    where = f"{file}: control {cid if isinstance(cid, str) else '(no id)'}"
    mappings = []
    for m in _list(raw, "mappings", where):
        if not isinstance(m, dict):
            raise CatalogueError(f"{where}: mappings: each mapping must be a table")
        mappings.append(
            Mapping(
                target=_text(m, "target", f"{where}: mappings"),
                relation=Relation(_choice(m, "relation", f"{where}: mappings", list(Relation))),
            )
        )
    recurrence = raw.get("recurrence")
    evidence_required = raw.get("evidence_required", True)
    if not isinstance(evidence_required, bool):
        raise CatalogueError(f"{where}: evidence_required: must be true or false")
    return Control(
        id=_text(raw, "id", where),
        catalogue_id=cat_id,
        section_id=_text(raw, "section", where),
        title=_text(raw, "title", where),
        requirement=_text(raw, "requirement", where),
        guidance=_text(raw, "guidance", where, required=False),
        source=_text(raw, "source", where),
        clauses=_strings(raw, "clauses", where),
        evidence=_text(raw, "evidence", where),
        evidence_required=evidence_required,
        criticality=Criticality(_choice(raw, "criticality", where, list(Criticality))),
        applies_if=_text(raw, "applies_if", where, required=False) or None,
        recurrence=(
            Recurrence(_choice(raw, "recurrence", where, list(Recurrence)))
            if recurrence is not None
            else None
        ),
        aliases=_strings(raw, "aliases", where, required=False),
        keywords=_strings(raw, "keywords", where, required=False),
        mappings=tuple(mappings),
        short_form_clauses=_strings(raw, "short_form_clauses", where, required=False),
    )


def _date(raw: dict[str, Any], key: str, where: str) -> date | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, date):
        raise CatalogueError(f"{where}: {key}: must be a date such as 2026-11-21")
    return value


def _tables(data: dict[str, Any], key: str, file: str) -> list[dict[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise CatalogueError(f"{file}: {key}: must be an array of tables ([[{key}]])")
    return items


def _list(raw: dict[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: {key}: must be a list")
    return value


def _text(raw: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogueError(f"{where}: {key}: a non-empty text is required")
    return value.strip()


def _strings(raw: dict[str, Any], key: str, where: str, *, required: bool = True) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where}: {key}: a list of texts is required")
    if required and not value:
        raise CatalogueError(f"{where}: {key}: must not be empty")
    return tuple(value)


def _choice(raw: dict[str, Any], key: str, where: str, allowed: Any) -> str:
    value = raw.get(key)
    names = [str(a) for a in allowed]
    if value not in names:
        raise CatalogueError(f"{where}: {key}: {value!r} is not one of {', '.join(names)}")
    return str(value)
