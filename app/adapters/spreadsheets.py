"""Tables as spreadsheets: XLSX (XlsxWriter in constant-memory mode, so a big sheet is streamed
to disk row by row instead of held in memory) and CSV.

Every sheet has a bold, frozen header row with filters and column widths that fit what it
holds. Text is always written as text, never as a formula; a cell whose text a spreadsheet
would run as a formula (it starts with `=`, `+`, `-`, `@`, their full-width forms, or a tab or
line break: OWASP "CSV injection") is marked quote-prefixed in XLSX, which keeps it text even
when someone edits it, and gets a leading apostrophe in CSV, as the audit log's CSV does.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import xlsxwriter  # type: ignore[import-untyped]

FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
CONTROL_STARTS = frozenset("\t\r\n")
Cell = str | int | float | date | None
MAX_WIDTH = 60
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def runs_as_formula(text: str) -> bool:
    """True when a spreadsheet would run this text (after any leading spaces) as a formula."""
    return text[:1] in CONTROL_STARTS or text.lstrip()[:1] in FORMULA_STARTS


def csv_cell(text: str) -> str:
    """The text as a CSV cell no spreadsheet will run: formulas get a leading apostrophe."""
    return "'" + text if runs_as_formula(text) else text


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str  # at most 31 characters, none of []:*?/\ (Excel's rule)
    headers: tuple[str, ...]
    rows: Sequence[Sequence[Cell]]
    widths: tuple[int, ...] = field(default=())  # characters; computed from the data when empty


def _width(values: Sequence[Cell], header: str) -> int:
    longest = max([len(header), *(len(_text(v)) for v in values[:500])], default=len(header))
    return min(MAX_WIDTH, max(8, longest + 2))


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def xlsx_bytes(sheets: Sequence[Sheet], *, title: str) -> bytes:
    """The workbook as XLSX bytes."""
    with tempfile.TemporaryDirectory(prefix="attest-xlsx-") as scratch, io.BytesIO() as out:
        book = xlsxwriter.Workbook(
            out,
            {"constant_memory": True, "tmpdir": scratch, "in_memory": False, "strings_to_formulas": False},
        )
        book.set_properties({"title": title, "creator": "Attest"})
        header = book.add_format({"bold": True, "bg_color": "#F3F2F1", "bottom": 1, "text_wrap": True})
        wrapped = book.add_format({"text_wrap": True, "valign": "top"})
        quoted = book.add_format({"text_wrap": True, "valign": "top", "quote_prefix": True})
        day = book.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
        for sheet in sheets:
            ws = book.add_worksheet(sheet.name[:31])
            widths = sheet.widths or tuple(
                _width([row[i] for row in sheet.rows], h) for i, h in enumerate(sheet.headers)
            )
            for column, width in enumerate(widths):
                ws.set_column(column, column, width)
            ws.freeze_panes(1, 0)
            ws.autofilter(0, 0, max(len(sheet.rows), 1), len(sheet.headers) - 1)
            for column, name in enumerate(sheet.headers):
                ws.write_string(0, column, name, header)
            for r, row in enumerate(sheet.rows, start=1):
                for column, value in enumerate(row):
                    if value is None or value == "":
                        continue
                    if isinstance(value, bool):
                        ws.write_string(r, column, "yes" if value else "no", wrapped)
                    elif isinstance(value, int | float):
                        ws.write_number(r, column, value)
                    elif isinstance(value, datetime):
                        ws.write_datetime(r, column, value.replace(tzinfo=None), day)
                    elif isinstance(value, date):
                        ws.write_datetime(r, column, datetime(value.year, value.month, value.day), day)
                    else:
                        ws.write_string(r, column, value, quoted if runs_as_formula(value) else wrapped)
        book.close()
        return out.getvalue()


def csv_text(sheet: Sheet) -> str:
    """One sheet as CSV (RFC 4180, CRLF line ends), formulas neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(sheet.headers)
    for row in sheet.rows:
        writer.writerow([csv_cell(_text(value)) for value in row])
    return out.getvalue()
