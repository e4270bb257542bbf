"""Reading the plan's risk register and Required Changes Register from a spreadsheet (issue 17
item 2), as app.domain.imports reads answers: columns found by heading (Attest's own export's
"Risk register" and "Required Changes Register" sheets, or other tools' names, or the person's
choice), then each row checked against the plan's rules, every error said. Pure.

A row is matched to the plan's risk (or entry) with the same title, compared without case or
repeated spaces: that risk is changed, or a new one is added. An import never deletes. The
rules are the plan's own (app.services.plan): a title of 1 to 200 characters; likelihood,
impact and their residual values whole numbers from 1 to 5 (Schedule 2.4's risk assessment
scores them as the plan page does); controls that belong to the engagement's catalogues; an
entry's status planned, in progress or implemented, with an implemented date exactly when it
is implemented, dates inside 2000-2100. A risk's owner is free text on the plan page (a role
such as "IT manager" is a fine owner), so a name is taken as written; an owner written as an
e-mail address must be a member of the supplier's organisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from app.domain.dates import EARLIEST, LATEST
from app.domain.imports import Layout, Row, date_of, key
from app.domain.text import MAX_TEXT

RISK_HEADERS = (
    "Risk", "Description", "Controls", "Likelihood", "Impact", "Score", "Treatment", "Owner",
    "Residual likelihood", "Residual impact", "Residual score",
)  # fmt: skip
REGISTER_HEADERS = ("Change", "Description", "Source", "Control", "Agreed on", "Implemented on", "Status")
SCORES = ("likelihood", "impact", "residual_likelihood", "residual_impact")

RISKS = Layout(
    "risks",
    ("title", "description", "control_ids", "likelihood", "impact", "treatment", "owner",
     "residual_likelihood", "residual_impact"),
    {
        "title": "Risk", "description": "Description", "control_ids": "Controls",
        "likelihood": "Likelihood", "impact": "Impact", "treatment": "Treatment", "owner": "Owner",
        "residual_likelihood": "Residual likelihood", "residual_impact": "Residual impact",
    },
    {
        "title": ("risk", "title", "riskname", "risktitle", "name"),
        "description": ("description", "riskdescription", "details"),
        "control_ids": ("controls", "controlids", "control", "relatedcontrols", "mitigatingcontrols"),
        "likelihood": ("likelihood", "inherentlikelihood", "probability"),
        "impact": ("impact", "inherentimpact", "severity", "consequence"),
        "treatment": ("treatment", "mitigation", "treatmentplan", "response"),
        "owner": ("owner", "riskowner", "responsible"),
        "residual_likelihood": ("residuallikelihood", "residualprobability"),
        "residual_impact": ("residualimpact", "residualseverity", "residualconsequence"),
    },
    ("title", "likelihood", "impact", "residual_likelihood", "residual_impact"),
)  # fmt: skip
REGISTER = Layout(
    "register",
    ("title", "description", "source", "control_id", "agreed_on", "implemented_on", "status"),
    {
        "title": "Change", "description": "Description", "source": "Source", "control_id": "Control",
        "agreed_on": "Agreed on", "implemented_on": "Implemented on", "status": "Status",
    },
    {
        "title": ("change", "title", "requiredchange", "changetitle"),
        "description": ("description", "details"),
        "source": ("source", "from", "origin"),
        "control_id": ("control", "controlid", "ref", "reference"),
        "agreed_on": ("agreedon", "agreeddate", "agreed", "duedate", "targetdate", "deadline"),
        "implemented_on": ("implementedon", "implementeddate", "implemented", "completedon", "completed"),
        "status": ("status", "state", "progress"),
    },
    ("title", "status"),
)  # fmt: skip
ENTRY_STATUS_WORDS = {
    "planned": "planned", "notstarted": "planned", "open": "planned", "todo": "planned",
    "inprogress": "in_progress", "started": "in_progress", "ongoing": "in_progress",
    "implemented": "implemented", "done": "implemented", "complete": "implemented",
    "completed": "implemented", "closed": "implemented",
}  # fmt: skip
SOURCE_WORDS = {"": "", "manual": "manual", "gap": "gap", "changenotice": "change_notice"}


def title_key(title: object) -> str:
    """How a row finds the risk or entry it changes: its title without case or extra spaces."""
    return " ".join(str(title or "").split()).casefold()


@dataclass(frozen=True, slots=True)
class Checked:
    """One row's verdict: the values it gives (empty for a blank row), or why not."""

    number: int
    title: str
    values: dict[str, object] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


def _text(values: Mapping[str, object], name: str) -> str:
    value = values.get(name)
    return "" if value is None else str(value).strip()


def _title(values: Mapping[str, object], seen: Mapping[str, int], what: str, errors: list[str]) -> str:
    title = " ".join(_text(values, "title").split())
    if not title:
        errors.append(f"The {what} has no title.")
    elif len(title) > 200:
        errors.append(f"The title is longer than 200 characters: shorten “{title[:40]}…”.")
    elif title_key(title) in seen:
        errors.append(f"“{title}” is already in row {seen[title_key(title)]}.")
    return title


def _score(value: object) -> int | None:
    """A whole number from 1 to 5 however the cell holds it (4, 4.0, "4"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        number = int(value)
    else:
        text = str(value or "").strip()
        if not text.isdigit():
            return None
        number = int(text)
    return number if 1 <= number <= 5 else None


def _blank(values: Mapping[str, object]) -> bool:
    return all(v is None or str(v).strip() == "" for v in values.values())


def check_risk(
    row: Row, *, controls: set[str], members: Mapping[str, str], seen: Mapping[str, int]
) -> Checked:
    """`controls`: the ids of the engagement's controls; `members`: the supplier's members'
    e-mail addresses (casefolded) -> name; `seen`: title key -> the row that already has it."""
    values = row.values
    if _blank(values):
        return Checked(row.number, "")
    errors: list[str] = []
    title = _title(values, seen, "risk", errors)
    scores: dict[str, int] = {}
    for name in SCORES:
        score = _score(values.get(name))
        if score is None:
            label = RISKS.labels[name]
            errors.append(f"{label} “{_text(values, name)}” is not a whole number from 1 to 5.")
        else:
            scores[name] = score
    wanted = _text(values, "control_ids").replace(",", " ").replace(";", " ").split()
    unknown = [c for c in wanted if c not in controls]
    if unknown:
        errors.append(f"Not controls of this engagement: {', '.join(unknown)}.")
    owner = _text(values, "owner")
    if "@" in owner and owner.casefold() not in members:
        errors.append(f"{owner} is not a member of the supplier's organisation.")
    elif len(owner) > 200:
        errors.append("The owner is longer than 200 characters.")
    text = {name: _text(values, name) for name in ("description", "treatment")}
    for name, value in text.items():
        if len(value) > MAX_TEXT:
            errors.append(f"The {RISKS.labels[name].lower()} is longer than {MAX_TEXT:,} characters.")
    if errors:
        return Checked(row.number, title, {}, tuple(errors))
    given: dict[str, object] = {
        "title": title,
        "description": text["description"],
        "control_ids": " ".join(dict.fromkeys(wanted)),
        "treatment": text["treatment"],
        "owner": owner,
        **scores,
    }
    return Checked(row.number, title, given)


def _day(values: Mapping[str, object], name: str, errors: list[str]) -> date | None:
    try:
        day = date_of(values.get(name))
    except ValueError:
        errors.append(f"“{_text(values, name)}” is not a date: write it as 2026-03-31 or 31/03/2026.")
        return None
    if day is not None and not EARLIEST <= day <= LATEST:
        errors.append(f"{day.isoformat()} is outside the dates Attest takes (2000 to 2100).")
        return None
    return day


def check_entry(row: Row, *, controls: set[str], seen: Mapping[str, int]) -> Checked:
    """A Required Changes Register row (`controls`, `seen` as for `check_risk`)."""
    values = row.values
    if _blank(values):
        return Checked(row.number, "")
    errors: list[str] = []
    title = _title(values, seen, "change", errors)
    status = ENTRY_STATUS_WORDS.get(key(_text(values, "status")))
    if status is None:
        errors.append(
            f"“{_text(values, 'status')}” is not a status: use planned, in progress or implemented."
        )
    source = SOURCE_WORDS.get(key(_text(values, "source")))
    if source is None:  # "": none given (a new entry is typed in, one in the register keeps its own)
        errors.append(f"“{_text(values, 'source')}” is not a source: use manual, gap or change notice.")
    control_id = _text(values, "control_id")
    if control_id and control_id not in controls:
        errors.append(f"{control_id} is not a control of this engagement.")
    agreed = _day(values, "agreed_on", errors)
    implemented = _day(values, "implemented_on", errors)
    if status == "implemented" and implemented is None and not _text(values, "implemented_on"):
        errors.append("An implemented change needs the date it was implemented.")
    if status not in (None, "implemented") and implemented is not None:
        errors.append("A change with an implemented date has the status implemented.")
    description = _text(values, "description")
    if len(description) > MAX_TEXT:
        errors.append(f"The description is longer than {MAX_TEXT:,} characters.")
    if errors:
        return Checked(row.number, title, {}, tuple(errors))
    given: dict[str, object] = {
        "title": title,
        "description": description,
        "source": source,
        "control_id": control_id or None,
        "agreed_on": agreed.isoformat() if agreed else None,
        "implemented_on": implemented.isoformat() if implemented else None,
        "status": status,
    }
    return Checked(row.number, title, given)
