"""Submissions: the canonical form of a plan snapshot, its fingerprint, and what changed.

Rule (product brief "Submission"; Schedule 2.4 paras 4.4-4.6): a submission is an immutable
snapshot of the Security Management Plan. Its canonical form is JSON with sorted keys, no
insignificant whitespace and UTF-8 text; its SHA-256 over those bytes is printed on the
ISAS or rejection notice, so anyone holding the document can check which plan was decided.

The diff between two snapshots lists, area by area, what was added, removed or changed:
answers (per control), evidence (per control, by file hash), risks, Required Changes
Register entries, security roles and the incident process. It is what the reviewer reads
first on a revised plan (para 4.6: the revision answers the reasons for rejection).
"""

from __future__ import annotations

import hashlib
import json
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
