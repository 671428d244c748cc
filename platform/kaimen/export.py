"""The one export helper: a table as CSV (UTF-8 with BOM, for Excel) or as an .xlsx file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from flask import Response
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

FORMATS = ("csv", "xlsx")
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _safe_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if isinstance(value, (int, float, date)):
        return value
    return _safe_text(str(value))


def _content_disposition(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "ignore").decode() or "export"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def csv_bytes(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([str(h) for h in headers])
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(title: str, headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (title or "Sheet")[:31]
    sheet.append([str(h) for h in headers])
    widths = [len(str(h)) for h in headers]
    for row in rows:
        cells = [_cell(value) for value in row]
        sheet.append(cells)
        widths = [max(w, min(len(str(c)), 60)) for w, c in zip(widths, cells, strict=False)]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width * 1.6 + 2
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def table_response(
    filename: str, headers: Sequence[Any], rows: Iterable[Sequence[Any]], fmt: str
) -> Response:
    """Return the table as a download in ``fmt`` ("csv" or "xlsx")."""
    if fmt == "xlsx":
        body, mimetype = xlsx_bytes(filename, headers, rows), XLSX_MIMETYPE
    elif fmt == "csv":
        body, mimetype = csv_bytes(headers, rows), "text/csv; charset=utf-8"
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = _content_disposition(f"{filename}.{fmt}")
    response.headers["Cache-Control"] = "no-store"
    return response
