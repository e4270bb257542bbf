"""Data in (issue 17 item 2): answers from a spreadsheet, with a dry run.

`read_sheets` opens the file (XLSX or CSV), refusing what is not a spreadsheet, a
password-protected workbook, an archive that would unpack to more than MAX_UNPACKED_BYTES (a zip
bomb dressed as XLSX) and more than MAX_ROWS rows, each with a clear message and before anything
is stored. `plan` reads every sheet whose headings name a control and a status (Attest's own
export has one per catalogue; other tools' sheets are mapped by heading, or by the person's
`mapping`), and says row by row what will change and every error, writing nothing. `apply`
writes the planned answers in one transaction, each through the same use case as a person's
save (history and `response_saved`), plus one `answers_imported` record; any error anywhere, or
an answer saved by someone else since the dry run, and nothing is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.domain import imports as rules
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.errors import InvalidInput, UnsupportedType
from app.models import Engagement, ImportMapping, utcnow
from app.services.caller import Caller
from app.services.engagements import applicability, catalogue_ids, engagement_controls, scoping_answers
from app.services.exports import ANSWER_HEADERS
from app.services.responses import ResponseInput, responses_by_control, save_response, supplier_people

log = logging.getLogger("attest.imports")

MAX_ROWS = 5_000
BACKGROUND_ROWS = 500  # an import of more rows than this (blank rows aside) runs in the worker
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
# Files that would read as text but are documents, images or archives of another kind.
OTHER_FORMATS = (b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"{\\rtf", b"<?xml", b"<html")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted XLSX and old .xls are OLE files
NOT_A_SPREADSHEET = "This file is not a spreadsheet: upload an .xlsx workbook or a .csv file."
PROTECTED = (
    "This workbook is password-protected or in the old .xls format: "
    "save it as an unprotected .xlsx and upload it again."
)
TOO_BIG = "This workbook would unpack to more than 50 MB: split it, or export the answers as CSV."
TOO_MANY_ROWS = f"This file has more than {MAX_ROWS:,} rows: import at most {MAX_ROWS:,} answers at a time."
NOTHING = "No sheet in this file has a column for the control and one for the status."
GONE_FILE = "The checked file is no longer kept: check the file again, then import it."


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    headers: list[str]
    rows: list[list[object]]


def _xlsx_tables(data: bytes) -> Iterator[Table]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise InvalidInput(TOO_BIG, details={"file": "too_big"})
    except zipfile.BadZipFile as error:
        raise UnsupportedType(NOT_A_SPREADSHEET) from error
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise UnsupportedType(NOT_A_SPREADSHEET) from error
    count = 0
    for sheet in book.worksheets:
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            continue
        body: list[list[object]] = []
        for row in rows:
            count += 1
            if count > MAX_ROWS:
                raise InvalidInput(TOO_MANY_ROWS, details={"file": "too_many_rows"})
            body.append(list(row))
        yield Table(sheet.title, [str(h or "") for h in header], body)
    book.close()


def _csv_table(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnsupportedType(NOT_A_SPREADSHEET) from error
    if "\x00" in text:
        raise UnsupportedType(NOT_A_SPREADSHEET)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    rows: list[list[object]] = []
    for row in reader:
        if len(rows) >= MAX_ROWS:
            raise InvalidInput(TOO_MANY_ROWS, details={"file": "too_many_rows"})
        rows.append([_uncsv(cell) for cell in row])
    return Table("CSV", header, rows)


def _uncsv(cell: str) -> str:
    """A cell as Attest's CSV export wrote it: a leading apostrophe neutralised a formula."""
    return cell[1:] if cell.startswith("'") and len(cell) > 1 and rules.key(cell[1]) == "" else cell


def read_sheets(data: bytes) -> list[Table]:
    if not data:
        raise InvalidInput("The file is empty.", details={"file": "empty"})
    if data.startswith(OLE_MAGIC):
        raise UnsupportedType(PROTECTED)
    if data.startswith(OTHER_FORMATS):
        raise UnsupportedType(NOT_A_SPREADSHEET)
    if data.startswith(b"PK"):
        return list(_xlsx_tables(data))
    return [_csv_table(data)]


class PlanRefused(InvalidInput):
    """Nothing was imported: the plan (with every error) says why."""

    def __init__(self, message: str, plan: Plan) -> None:
        super().__init__(message, details=plan.to_dict())
        self.plan = plan


@dataclass(frozen=True, slots=True)
class PlannedRow:
    sheet: str
    number: int
    control_id: str
    change: str  # "new", "changed", "unchanged", "skipped" (no status) or "error"
    answer: dict[str, Any] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    sha256: str  # of the file: `apply` checks it is the file the dry run read
    rows: list[PlannedRow]
    mapping_problems: dict[str, str]
    headers: list[str]  # of the first sheet read, for the column-mapping form
    mapping: dict[str, str] = field(default_factory=dict)  # the person's column choices
    remembered: bool = False  # `mapping` is the organisation's choice for these headings last time

    @property
    def errors(self) -> list[PlannedRow]:
        return [r for r in self.rows if r.errors]

    @property
    def changes(self) -> list[PlannedRow]:
        return [r for r in self.rows if r.change in ("new", "changed")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "changes": len(self.changes),
            "errors": len(self.errors),
            "mapping_problems": self.mapping_problems,
            "mapping": self.mapping,
            "remembered": self.remembered,
            "rows": [
                {
                    "sheet": r.sheet,
                    "row": r.number,
                    "control_id": r.control_id,
                    "change": r.change,
                    "answer": r.answer,
                    "errors": list(r.errors),
                }
                for r in self.rows
                if r.change != "skipped" or r.errors
            ],
        }


ANSWER_FIELDS = ("status", "statement", "justification", "owner_id", "planned_change", "target_date")


def plan(
    session: Session,
    library: Library,
    engagement: Engagement,
    data: bytes,
    mapping: Mapping[str, str] | None = None,
) -> Plan:
    """What importing `data` would do: every row's change or errors. Writes nothing."""
    tables = _answer_tables(read_sheets(data))
    remembered = False
    if not mapping and tables:
        mapping = remembered_mapping(session, engagement.supplier_org_id, tables[0].headers)
        remembered = bool(mapping)
    controls = engagement_controls(library, catalogue_ids(session, engagement.id))
    answers = scoping_answers(session, engagement.id)
    applicable = {c.id for c in controls if applicability(c, answers, library)[0]}
    scoped_out = {c.id for c in controls} - applicable
    current = responses_by_control(session, engagement.id)
    owners: dict[str, str] = {}
    for person in supplier_people(session, engagement):
        owners[person.email.casefold()] = person.id
        owners.setdefault(person.name.casefold(), person.id)
    rows: list[PlannedRow] = []
    answered_by: dict[str, int] = {}
    problems: dict[str, str] = {}
    first_headers: list[str] = tables[0].headers if tables else []
    used = 0
    for table in tables:
        columns = rules.map_headers(table.headers, mapping)
        if columns.problems:
            problems = problems or columns.problems
            continue
        used += 1
        for offset, cells in enumerate(table.rows, start=2):
            checked = rules.check_row(
                rules.Row(offset, rules.row_values(cells, columns)),
                controls=applicable,
                owners=owners,
                answered_by=answered_by,
                scoped_out=scoped_out,
            )
            if not checked.control_id and not checked.errors:
                continue  # a blank row
            if checked.errors:
                rows.append(PlannedRow(table.name, offset, checked.control_id, "error", {}, checked.errors))
                continue
            if not checked.answer:
                rows.append(PlannedRow(table.name, offset, checked.control_id, "skipped"))
                continue
            answered_by[checked.control_id] = offset
            before = current.get(checked.control_id)
            rows.append(
                PlannedRow(
                    table.name, offset, checked.control_id, _change(before, checked.answer), checked.answer
                )
            )
    if not used:
        problems = problems or {"file": NOTHING}
    return Plan(
        hashlib.sha256(data).hexdigest(),
        rows,
        problems if not used else {},
        first_headers,
        dict(mapping or {}),
        remembered,
    )


def remembered_mapping(
    session: Session, organisation_id: str, headers: list[str], layout: rules.Layout = rules.ANSWERS
) -> dict[str, str]:
    """The column choices the organisation last made for a sheet with these headings (for an
    import of this kind: answers, risks or register entries), if any."""
    query = select(ImportMapping).where(
        ImportMapping.organisation_id == organisation_id,
        ImportMapping.headings_key == rules.headings_key(headers, layout.kind),
    )
    row = session.exec(query).first()
    if row is None:
        return {}
    stored = json.loads(row.mapping or "{}")
    if not isinstance(stored, dict):
        return {}
    return rules.keeps({str(k): str(v) for k, v in stored.items()}, headers, layout.fields)


def remember_mapping(
    session: Session,
    engagement: Engagement,
    caller: Caller,
    result: Plan,
    layout: rules.Layout = rules.ANSWERS,
) -> None:
    """Keep the person's column choices for the supplier organisation and this sheet's headings
    (replacing the last ones), once they found every column; in a savepoint, so that a second
    person saving the same layout at the same moment never undoes the caller's work."""
    chosen = rules.keeps(result.mapping, result.headers, layout.fields)
    if not chosen or result.mapping_problems:
        return
    organisation_id, headings = engagement.supplier_org_id, rules.headings_key(result.headers, layout.kind)
    try:
        with session.begin_nested():
            query = select(ImportMapping).where(
                ImportMapping.organisation_id == organisation_id, ImportMapping.headings_key == headings
            )
            row = session.exec(query).first() or ImportMapping(
                organisation_id=organisation_id, headings_key=headings
            )
            row.mapping = json.dumps(chosen, sort_keys=True)
            row.chosen_by_id, row.chosen_at = caller.actor.user_id, utcnow()
            session.add(row)
    except IntegrityError:
        log.info("import column choices for organisation %s saved by someone else meanwhile", organisation_id)


def _answer_tables(tables: list[Table]) -> list[Table]:
    """Attest's own export: only its answer sheets (its risk, register, certificate and deadline
    sheets have a status too, of other things). Any other workbook: every sheet."""
    width = len(ANSWER_HEADERS)
    own = [t for t in tables if ANSWER_HEADERS in (tuple(t.headers[:width]), tuple(t.headers[1 : width + 1]))]
    return own or tables


def _change(before: Any, answer: dict[str, Any]) -> str:
    if before is None:
        return "new"
    was = {
        "status": str(before.status),
        "statement": before.statement,
        "justification": before.justification,
        "owner_id": before.owner_id,
        "planned_change": before.planned_change,
        "target_date": before.target_on.isoformat() if before.target_on else None,
    }
    return "unchanged" if all(was[k] == answer.get(k) for k in ANSWER_FIELDS) else "changed"


def refuse(result: Plan, expected_sha256: str = "") -> None:
    """Raise what `apply` answers for a plan it will not write: 422 when the file is not the one
    the dry run read, or with the plan when a column is missing or any row has an error."""
    if expected_sha256 and expected_sha256 != result.sha256:
        raise InvalidInput(
            "This is not the file the dry run checked: run the dry run again.", details={"file": "changed"}
        )
    if result.mapping_problems or result.errors:
        raise PlanRefused(
            f"Nothing was imported: {len(result.errors)} rows have errors"
            + (" and some columns could not be found" if result.mapping_problems else "")
            + ". Fix them and run the dry run again.",
            result,
        )


def apply(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    data: bytes,
    mapping: Mapping[str, str] | None = None,
    *,
    expected_sha256: str = "",
) -> Plan:
    """Import for real: all the planned changes in the caller's transaction, or none (422 with
    the plan when any row has an error; 409 when the file is not the one the dry run read)."""
    result = plan(session, library, engagement, data, mapping)
    refuse(result, expected_sha256)
    current = responses_by_control(session, engagement.id)
    for row in result.changes:
        before = current.get(row.control_id)
        answer = row.answer
        save_response(
            session,
            library,
            engagement,
            caller,
            row.control_id,
            ResponseInput(
                status=str(answer["status"]),
                statement=str(answer["statement"]),
                justification=str(answer["justification"]),
                owner_id=answer["owner_id"],
                planned_change=str(answer["planned_change"]),
                target_date=answer["target_date"],
                expected_version=before.version if before is not None else None,
            ),
        )
    caller.record(
        session,
        AuditAction.ANSWERS_IMPORTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"sha256": result.sha256, "changed": [r.control_id for r in result.changes]},
    )
    session.flush()
    if mapping:  # the person's own choices (or the ones the dry run showed them): kept for next time
        remember_mapping(session, engagement, caller, result)
    return result
