"""Reading answers from a spreadsheet someone else laid out: which column is which, and whether
each row is an answer Attest can take (issue 17 item 2). Pure: the service reads the file and
the engagement, this decides.

Columns are found by their heading, compared without case, spaces or punctuation, against the
names Attest's own export uses and the usual names in other tools' sheets; a person can also
say which heading is which field (`explicit`), and that wins. Status words are read the same
way ("Partially met", "partial", "N/A"...). Dates may be ISO (2026-03-31), UK style
(31/03/2026) or a spreadsheet date cell.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from app.domain.dates import EARLIEST, LATEST
from app.domain.text import MAX_TEXT

FIELDS = ("control_id", "status", "statement", "justification", "owner", "planned_change", "target_date")
FIELD_LABELS = {
    "control_id": "Control",
    "status": "Status",
    "statement": "Implementation statement",
    "justification": "Justification",
    "owner": "Owner",
    "planned_change": "Planned change",
    "target_date": "Target date",
}
SYNONYMS = {
    "control_id": (
        "control", "controlid", "id", "ref", "reference", "requirement", "requirementid", "annexacontrol",
    ),
    "status": ("status", "answer", "implementationstatus", "compliance", "compliancestatus", "result"),
    "statement": (
        "implementationstatement", "statement", "howitisimplemented", "howyoumeetit", "response",
        "implementation", "evidencedescription", "comments", "comment",
    ),
    "justification": (
        "justification", "whynotapplicable", "reason", "exclusionreason", "whyincludedorexcluded",
    ),
    "owner": ("owner", "controlowner", "assignee", "responsible"),
    "planned_change": ("plannedchange", "remediation", "action", "actionplan", "plannedaction"),
    "target_date": ("targetdate", "duedate", "target", "deadline", "completiondate"),
}  # fmt: skip
STATUS_WORDS = {
    "met": "met", "yes": "met", "compliant": "met", "implemented": "met", "fullymet": "met",
    "partiallymet": "partially_met", "partial": "partially_met", "partiallycompliant": "partially_met",
    "partiallyimplemented": "partially_met", "inprogress": "partially_met",
    "notmet": "not_met", "no": "not_met", "noncompliant": "not_met", "notcompliant": "not_met",
    "notimplemented": "not_met",
    "notapplicable": "not_applicable", "na": "not_applicable", "excluded": "not_applicable",
}  # fmt: skip
UNANSWERED = {"", "unanswered", "notanswered", "blank", "-"}
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


@dataclass(frozen=True, slots=True)
class Layout:
    """What one kind of import reads (answers, risks, register entries): its fields, their
    labels, the headings each is known by, and the fields a sheet must have."""

    kind: str
    fields: tuple[str, ...]
    labels: Mapping[str, str]
    synonyms: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]


ANSWERS = Layout("answers", FIELDS, FIELD_LABELS, SYNONYMS, ("control_id", "status"))


def key(text: str) -> str:
    """A heading or word without case, spaces or punctuation."""
    return "".join(c for c in text.casefold() if c.isalnum())


def headings_key(headers: Sequence[str], kind: str = "answers") -> str:
    """A sheet's layout, for remembering column choices: the SHA-256 of its set of headings,
    each without case, spaces or punctuation, sorted (so the order of the columns does not count);
    for an import of another kind than answers, the kind's name comes first, so the choices for a
    risk register never answer for an answer sheet with the same headings."""
    names = sorted({key(h) for h in headers if key(h)})
    prefix = [] if kind == "answers" else [f"kind:{kind}"]
    return hashlib.sha256("\n".join(prefix + names).encode()).hexdigest()


def keeps(
    mapping: Mapping[str, str], headers: Sequence[str], fields: Sequence[str] = FIELDS
) -> dict[str, str]:
    """The column choices that still name a heading of this sheet, for known fields only."""
    present = {key(h) for h in headers}
    return {name: heading for name, heading in mapping.items() if name in fields and key(heading) in present}


@dataclass(frozen=True, slots=True)
class Columns:
    index: dict[str, int]  # field -> column position
    problems: dict[str, str] = field(default_factory=dict)  # field -> message


def map_headers(
    headers: Sequence[str], explicit: Mapping[str, str] | None = None, layout: Layout | None = None
) -> Columns:
    """Which column holds which field. For answers the control id and the status are required;
    for another `layout`, its required fields."""
    layout = layout or ANSWERS
    by_key = {key(h): i for i, h in reversed(list(enumerate(headers))) if key(h)}
    index: dict[str, int] = {}
    problems: dict[str, str] = {}
    for name, heading in (explicit or {}).items():
        if name not in layout.fields or not heading:
            continue
        if key(heading) not in by_key:
            problems[name] = f"There is no column headed “{heading}” in this sheet."
        else:
            index[name] = by_key[key(heading)]
    for name in layout.fields:
        if name not in index and name not in problems:
            found = next((by_key[s] for s in layout.synonyms[name] if s in by_key), None)
            if found is not None and found not in index.values():
                index[name] = found
    for name in layout.required:
        if name not in index and name not in problems:
            problems[name] = f"No column is the {layout.labels[name].lower()}: choose which one it is."
    return Columns(index, problems)


def status_of(value: object) -> str | None:
    """The status a cell says, "" when it says nothing (unanswered), None when it is not one."""
    word = key(str(value or ""))
    if word in UNANSWERED:
        return ""
    return STATUS_WORDS.get(word)


def date_of(value: object) -> date | None:
    """The date a cell holds; ValueError when it holds something else."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if (m := _UK_DATE.match(text)) is not None:
        return date(int(m[3]), int(m[2]), int(m[1]))
    return date.fromisoformat(text[:10])


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the sheet as read: its number (as the spreadsheet counts, header = 1)."""

    number: int
    values: dict[str, object]


def row_values(cells: Sequence[object], columns: Columns) -> dict[str, object]:
    return {name: (cells[i] if i < len(cells) else None) for name, i in columns.index.items()}


@dataclass(frozen=True, slots=True)
class Checked:
    """One row's verdict: the answer it gives (status "" = nothing to import), or why not."""

    number: int
    control_id: str
    answer: dict[str, object] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


def check_row(
    row: Row,
    *,
    controls: set[str],
    owners: Mapping[str, str],
    answered_by: Mapping[str, int],
    scoped_out: frozenset[str] | set[str] = frozenset(),
) -> Checked:
    """`controls`: the engagement's applicable control ids; `scoped_out`: its controls that the
    scoping answers take out (listed by its export as unanswered, so such a row is skipped unless
    it gives a status); `owners`: owner key (email or name) -> user id; `answered_by`: control id
    -> the row number that already answered it in this sheet."""
    values = row.values
    control_id = str(values.get("control_id") or "").strip()
    if not control_id and all(v in (None, "") for v in values.values()):
        return Checked(row.number, "")  # a blank row
    status = status_of(values.get("status"))
    errors: list[str] = []
    if control_id in scoped_out:
        if not status:
            return Checked(row.number, control_id)
        errors.append(f"{control_id} does not apply to this engagement (its scoping answers take it out).")
    elif control_id not in controls:
        errors.append(f"{control_id or 'The control'} is not a control of this engagement.")
    elif control_id in answered_by:
        errors.append(f"{control_id} is already answered by row {answered_by[control_id]}.")
    if status is None:
        errors.append(
            f"“{values.get('status')}” is not a status: use met, partially met, not met or not applicable."
        )
    text = {
        name: str(values.get(name) or "").strip() for name in ("statement", "justification", "planned_change")
    }
    if status == "not_applicable" and not text["justification"]:
        errors.append("Not applicable needs a justification.")
    target: date | None = None
    try:
        target = date_of(values.get("target_date"))
    except ValueError:
        errors.append(f"“{values.get('target_date')}” is not a date: write it as 2026-03-31 or 31/03/2026.")
    owner_id: str | None = None
    owner = str(values.get("owner") or "").strip()
    if owner:
        owner_id = owners.get(owner.casefold())
        if owner_id is None:
            errors.append(f"{owner} is not a member of the supplier's organisation.")
    if target is not None and not EARLIEST <= target <= LATEST:
        errors.append(f"{target.isoformat()} is outside the dates Attest takes (2000 to 2100).")
    for name, value in text.items():
        if len(value) > MAX_TEXT:
            errors.append(f"The {FIELD_LABELS[name].lower()} is longer than {MAX_TEXT:,} characters.")
    if errors or not status:
        return Checked(row.number, control_id, {}, tuple(errors))
    # Kept as a save keeps them: a justification only when not applicable, a planned change and a
    # target date only when not (fully) met.
    planning = status in ("not_met", "partially_met")
    answer: dict[str, object] = {
        "status": status,
        "statement": text["statement"],
        "justification": text["justification"] if status == "not_applicable" else "",
        "owner_id": owner_id,
        "planned_change": text["planned_change"] if planning else "",
        "target_date": target.isoformat() if target and planning else None,
    }
    return Checked(row.number, control_id, answer)
