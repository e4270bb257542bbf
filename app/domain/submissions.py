"""Submissions: the canonical form of a plan snapshot, its fingerprint, and what changed.

Rule (product brief "Submission"; Schedule 2.4 paras 4.4-4.6): a submission is an immutable
snapshot of the Security Management Plan. Its canonical form is JSON with sorted keys, no
insignificant whitespace and UTF-8 text; its SHA-256 over those bytes is printed on the
ISAS or rejection notice, so anyone holding the document can check which plan was decided.

The diff between two snapshots lists, area by area, what was added, removed or changed:
answers (per control), evidence (per control, by file hash), risks, Required Changes
Register entries, security roles and the incident process. It is what the reviewer reads
first on a revised plan (para 4.6: the revision answers the reasons for rejection).

`review` is the same comparison for people (issue 16): one entry per changed control with its
fields labelled and the words changed inside statements, evidence by title, the plan's tables
with changed cells, counts per kind; `follow_ups` matches each reason the advisor gave on the
previous version (para 4.5(b)) to what the supplier did about it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def canonical(snapshot: dict[str, Any]) -> bytes:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(snapshot)).hexdigest()


@dataclass(frozen=True, slots=True)
class Change:
    area: str  # answers | evidence | risks | register | roles | incident
    key: str  # control id, risk title, entry title...
    what: str  # added | removed | changed
    before: str = ""
    after: str = ""


ANSWER_FIELDS = ("status", "statement", "justification", "planned_change", "target_date")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _by(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {str(item[key]): item for item in items}


def _compare(
    area: str, old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], label: str
) -> list[Change]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        name = str((after or before or {}).get(label, key))
        if before is None:
            changes.append(
                Change(
                    area, name, "added", after=_text({k: v for k, v in (after or {}).items() if k != "id"})
                )
            )
        elif after is None:
            changes.append(
                Change(area, name, "removed", before=_text({k: v for k, v in before.items() if k != "id"}))
            )
        else:
            for field in sorted(before.keys() | after.keys()):
                if field != "id" and before.get(field) != after.get(field):
                    changes.append(
                        Change(
                            area,
                            f"{name}: {field}",
                            "changed",
                            _text(before.get(field)),
                            _text(after.get(field)),
                        )
                    )
    return changes


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """What changed from `old` to `new` (both snapshots as built by app.services.approvals)."""
    changes: list[Change] = []
    old_answers = _by(old.get("responses", []), "control_id")
    new_answers = _by(new.get("responses", []), "control_id")
    for control_id in sorted(old_answers.keys() | new_answers.keys()):
        before, after = old_answers.get(control_id, {}), new_answers.get(control_id, {})
        for field in ANSWER_FIELDS:
            if before.get(field) != after.get(field):
                changes.append(
                    Change(
                        "answers",
                        f"{control_id}: {field}",
                        "changed",
                        _text(before.get(field)),
                        _text(after.get(field)),
                    )
                )
        old_files = {e["sha256"]: e for e in before.get("evidence", [])}
        new_files = {e["sha256"]: e for e in after.get("evidence", [])}
        for sha in sorted(new_files.keys() - old_files.keys()):
            changes.append(
                Change("evidence", control_id, "added", after=f"{new_files[sha]['title']} ({sha[:12]})")
            )
        for sha in sorted(old_files.keys() - new_files.keys()):
            changes.append(
                Change("evidence", control_id, "removed", before=f"{old_files[sha]['title']} ({sha[:12]})")
            )
    changes += _compare("risks", _by(old.get("risks", []), "id"), _by(new.get("risks", []), "id"), "title")
    changes += _compare(
        "register", _by(old.get("register", []), "id"), _by(new.get("register", []), "id"), "title"
    )
    roles_before, roles_after = old.get("roles", []), new.get("roles", [])
    if roles_before != roles_after:
        changes.append(Change("roles", "security roles", "changed", _text(roles_before), _text(roles_after)))
    if old.get("incident") != new.get("incident"):
        changes.append(
            Change(
                "incident",
                "incident management process",
                "changed",
                _text(old.get("incident")),
                _text(new.get("incident")),
            )
        )
    return changes


# The readable review (issue 16) ------------------------------------------------------------------
#
# The rows above are the API's flat list; the review page reads the same two snapshots as one row
# per changed control (labelled fields, before and after, word-level changes in the text), the
# evidence added or removed by title, and the plan's tables (risks, register, roles, incident
# process) with the changed cells marked. The advisor's reasons on the previous version are
# matched to what the supplier did about each (Schedule 2.4 para 4.6: the revision must address
# the reasons for rejection).

FIELD_LABELS = {
    "status": "Status",
    "statement": "Implementation statement",
    "justification": "Why not applicable",
    "planned_change": "Planned change",
    "target_date": "Target date",
}
STATUS_LABELS = {
    "met": "Met",
    "partially_met": "Partially met",
    "not_met": "Not met",
    "not_applicable": "Not applicable",
}
PROSE_FIELDS = frozenset({"statement", "justification", "planned_change"})


@dataclass(frozen=True, slots=True)
class Words:
    """A run of words in a before/after pair: kept, deleted or inserted."""

    kind: str  # same | deleted | inserted
    text: str


def word_diff(before: str, after: str) -> list[Words]:
    """The words of `after` against `before` (difflib over whitespace-separated words)."""
    old, new = before.split(), after.split()
    runs: list[Words] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(Words("same", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(Words("deleted", " ".join(old[i1:i2])))
        if j2 > j1:
            runs.append(Words("inserted", " ".join(new[j1:j2])))
    return runs


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    label: str
    before: str
    after: str
    words: tuple[Words, ...] = ()  # for prose fields changed on both sides


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    id: str
    title: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ControlChange:
    control_id: str
    title: str
    kind: str  # added | removed | changed
    fields: tuple[FieldChange, ...]
    evidence_added: tuple[EvidenceRef, ...]
    evidence_removed: tuple[EvidenceRef, ...]

    @property
    def answer_changed(self) -> bool:
        return self.kind != "changed" or bool(self.fields)


@dataclass(frozen=True, slots=True)
class Cell:
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True, slots=True)
class Row:
    kind: str  # added | removed | changed | unchanged
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Table:
    area: str  # risks | register | roles | incident
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]

    @property
    def changed(self) -> int:
        return sum(1 for r in self.rows if r.kind != "unchanged")


@dataclass(frozen=True, slots=True)
class ReasonFollowUp:
    """One reason the advisor gave on a control of the previous version, and what the supplier did."""

    control_id: str
    title: str
    reason: str
    outcome: str  # changed | evidence added | changed, evidence added | unchanged | removed


@dataclass(frozen=True, slots=True)
class Review:
    controls: tuple[ControlChange, ...]  # changed, added or removed controls, in control order
    unchanged: tuple[tuple[str, str], ...]  # (control id, title) of every control left as it was
    tables: tuple[Table, ...]
    counts: dict[str, int]  # per kind of change (see `count_kinds`)


def _shown(field: str, value: Any) -> str:
    if field == "status":
        return STATUS_LABELS.get(str(value), _text(value))
    return _text(value)


def _field_change(field: str, before: Any, after: Any) -> FieldChange:
    old, new = _shown(field, before), _shown(field, after)
    words = tuple(word_diff(old, new)) if field in PROSE_FIELDS and old and new else ()
    return FieldChange(field, FIELD_LABELS[field], old, new, words)


def _refs(items: list[dict[str, Any]]) -> dict[str, EvidenceRef]:
    return {
        str(e["sha256"]): EvidenceRef(str(e.get("id", "")), str(e.get("title", "")), str(e["sha256"]))
        for e in items
    }


def _control_changes(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[list[ControlChange], list[tuple[str, str]]]:
    old_rows = _by(old.get("responses", []), "control_id")
    new_rows = _by(new.get("responses", []), "control_id")
    order = [str(r["control_id"]) for r in new.get("responses", [])]
    order += [c for c in (str(r["control_id"]) for r in old.get("responses", [])) if c not in new_rows]
    changes: list[ControlChange] = []
    unchanged: list[tuple[str, str]] = []
    for control_id in order:
        before, after = old_rows.get(control_id), new_rows.get(control_id)
        title = str((after or before or {}).get("title", ""))
        fields = tuple(
            _field_change(f, (before or {}).get(f), (after or {}).get(f))
            for f in ANSWER_FIELDS
            if (before or {}).get(f) != (after or {}).get(f)
        )
        old_files = _refs((before or {}).get("evidence", []))
        new_files = _refs((after or {}).get("evidence", []))
        added = tuple(new_files[s] for s in new_files if s not in old_files)
        removed = tuple(old_files[s] for s in old_files if s not in new_files)
        kind = "added" if before is None else "removed" if after is None else "changed"
        if kind == "changed" and not (fields or added or removed):
            unchanged.append((control_id, title))
            continue
        changes.append(ControlChange(control_id, title, kind, fields, added, removed))
    return changes, unchanged


def _pairs(
    old: list[dict[str, Any]], new: list[dict[str, Any]], key: str
) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    before, after = _by(old, key), _by(new, key)
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = [
        (before.get(str(item[key])), item) for item in new
    ]
    pairs += [(item, None) for item in old if str(item[key]) not in after]
    return pairs


def _table(
    area: str,
    title: str,
    columns: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...],
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]],
) -> Table:
    rows = []
    for before, after in pairs:
        cells = tuple(
            Cell(show(before) if before is not None else "", show(after) if after is not None else "")
            for _label, show in columns
        )
        kind = (
            "added"
            if before is None
            else "removed"
            if after is None
            else "changed"
            if any(c.changed for c in cells)
            else "unchanged"
        )
        rows.append(Row(kind, cells))
    return Table(area, title, tuple(label for label, _show in columns), tuple(rows))


def _get(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda item: _text(item.get(name))


TIMES = "\u00d7"  # the multiplication sign, as the plan page writes likelihood by impact
RISK_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Risk", _get("title")),
    ("Controls", lambda r: " ".join(r.get("control_ids") or [])),
    (f"L{TIMES}I", lambda r: f"{r.get('likelihood')}{TIMES}{r.get('impact')}"),
    ("Treatment", _get("treatment")),
    ("Owner", _get("owner")),
    ("Residual", lambda r: f"{r.get('residual_likelihood')}{TIMES}{r.get('residual_impact')}"),
)
REGISTER_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Change", _get("title")),
    ("From", lambda e: " ".join(x for x in (_text(e.get("source")), _text(e.get("control_id"))) if x)),
    ("Agreed date", _get("agreed_on")),
    ("Implemented", _get("implemented_on")),
    ("Status", _get("status")),
)
ROLE_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Role", lambda r: _text(r.get("kind")).replace("_", " ")),
    ("Name", _get("name")),
    ("Email", _get("email")),
    ("Phone", _get("phone")),
    ("Board level", lambda r: "yes" if r.get("board_level") else "no"),
)


def _contacts(process: dict[str, Any]) -> str:
    return "; ".join(
        ", ".join(_text(c.get(k)) for k in ("name", "role", "email", "phone") if c.get(k))
        for c in process.get("contacts") or []
    )


INCIDENT_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Process", _get("document")),
    ("Contacts", _contacts),
    ("Report loss within (hours)", _get("report_loss_hours")),
    ("Trace loss within (hours)", _get("trace_loss_hours")),
)


def _role_key(role: dict[str, Any]) -> str:
    return f"{role.get('kind')}:{role.get('name')}"


def review(old: dict[str, Any] | None, new: dict[str, Any]) -> Review:
    """The readable comparison of `new` against `old` (None for a first submission: every control
    and row then counts as added)."""
    base = old or {}
    controls, unchanged = _control_changes(base, new)
    roles_old = [{**r, "key": _role_key(r)} for r in base.get("roles", [])]
    roles_new = [{**r, "key": _role_key(r)} for r in new.get("roles", [])]
    incident_old, incident_new = base.get("incident"), new.get("incident")
    incident_pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = (
        [(incident_old, incident_new)] if incident_old is not None or incident_new is not None else []
    )
    tables = (
        _table("risks", "Risks", RISK_COLUMNS, _pairs(base.get("risks", []), new.get("risks", []), "id")),
        _table(
            "register",
            "Required Changes Register",
            REGISTER_COLUMNS,
            _pairs(base.get("register", []), new.get("register", []), "id"),
        ),
        _table("roles", "Security roles", ROLE_COLUMNS, _pairs(roles_old, roles_new, "key")),
        _table("incident", "Incident Management Process", INCIDENT_COLUMNS, incident_pairs),
    )
    return Review(tuple(controls), tuple(unchanged), tables, count_kinds(controls, tables))


def count_kinds(controls: list[ControlChange], tables: tuple[Table, ...]) -> dict[str, int]:
    """How many changes of each kind: controls answered differently, added or removed, evidence
    files added or removed, and rows added, removed or changed per table."""
    counts = {
        "controls_changed": sum(1 for c in controls if c.kind == "changed" and c.fields),
        "controls_added": sum(1 for c in controls if c.kind == "added"),
        "controls_removed": sum(1 for c in controls if c.kind == "removed"),
        "evidence_added": sum(len(c.evidence_added) for c in controls),
        "evidence_removed": sum(len(c.evidence_removed) for c in controls),
    }
    for table in tables:
        for kind in ("added", "removed", "changed"):
            counts[f"{table.area}_{kind}"] = sum(1 for r in table.rows if r.kind == kind)
    return counts


def follow_ups(
    reasons: dict[str, str], old: dict[str, Any], new: dict[str, Any], changes: tuple[ControlChange, ...]
) -> list[ReasonFollowUp]:
    """Each per-control reason given on `old` with what the supplier did about it in `new`:
    "changed" (the answer changed), "evidence added", both, "unchanged" (nothing done: the
    reviewer's first question) or "removed" (the control left the plan)."""
    titles = {str(r["control_id"]): str(r.get("title", "")) for r in old.get("responses", [])}
    present = {str(r["control_id"]) for r in new.get("responses", [])}
    by_id = {c.control_id: c for c in changes}
    out = []
    for control_id in [c for c in titles if c in reasons] + sorted(set(reasons) - set(titles)):
        change = by_id.get(control_id)
        if control_id not in present:
            outcome = "removed"
        elif change is None:
            outcome = "unchanged"
        else:
            done = ["changed"] if change.fields else []
            done += ["evidence added"] if change.evidence_added else []
            outcome = ", ".join(done) or "evidence removed"
        out.append(ReasonFollowUp(control_id, titles.get(control_id, ""), reasons[control_id], outcome))
    return out
