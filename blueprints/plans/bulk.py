"""The ledger as a spreadsheet: export, and the edited file read back all or nothing.

The file is read by column position, so translated headers, widened columns, added
empty rows and dates typed as dates do not matter; only the status and the note
are taken from it, and only for items of the school's approved plans.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook

from kaimen import User

from . import ledger
from .models import CATEGORIES, ITEM_STATUSES, Measure
from .services import PlanError

HEADERS = [_l("Item"), _l("Area"), _l("Problem"), _l("Measure"), _l("Responsible person"),
           _l("Deadline"), _l("Status"), _l("Signed off"), _l("Progress note (write here)")]
ID, STATUS, SIGNED_OFF, NOTE = 0, 6, 7, 8
LOCALES = ("en", "zh_Hans")
MAX_ROWS = 5000


def rows(measures: list[Measure]) -> list[list[Any]]:
    """Return the export's rows, one per ledger item."""
    return [[m.id, CATEGORIES[m.problem.category], m.problem.description, m.action,
             m.responsible_person, m.deadline, ITEM_STATUSES[m.status],
             _l("Yes") if m.signed_off else "", ""] for m in measures]


@dataclass
class RowError:
    """What is wrong with one row of the file, by its row number in the spreadsheet."""

    row: int
    message: str


class BulkError(ValueError):
    """The file was refused; nothing was imported. ``errors`` names the rows."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(f"{e.row}: {e.message}" for e in errors))
        self.errors = errors


def _labels(mapping: dict[str, Any]) -> dict[str, str]:
    """Return every spelling of each choice (its key, its label in every locale) -> key."""
    known: dict[str, str] = {}
    for locale in LOCALES:
        with force_locale(locale):
            known |= {str(label).strip().casefold(): key for key, label in mapping.items()}
    return known | {key.casefold(): key for key in mapping}


def _text(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if text.startswith("'") and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]  # the export's guard against formulas, typed back
    return text


def read_table(filename: str, content: bytes) -> list[tuple[int, list[Any]]]:
    """Return ``(spreadsheet row number, cells)`` of every row after the header."""
    if filename.lower().endswith(".csv"):
        reader = csv.reader(io.StringIO(content.decode("utf-8-sig")))
        table = [(number, row) for number, row in enumerate(reader, 1)]
    else:
        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
        except Exception as error:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise PlanError(_l("This is not an Excel (.xlsx) or CSV file.")) from error
        if sheet is None:
            raise PlanError(_l("This is not an Excel (.xlsx) or CSV file."))
        table = [(number, list(row)) for number, row in
                 enumerate(sheet.iter_rows(values_only=True), 1)]
    if len(table) > MAX_ROWS:
        raise PlanError(_l("The file has more than %(count)d rows.", count=MAX_ROWS))
    return table[1:]


def _item_id(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _text(value)
    return int(text) if text.isdigit() else None


def _check(cells: list[Any], items: dict[int, Measure], statuses: dict[str, str],
           seen: set[int]) -> tuple[Measure, str, str] | str:
    """Return the change a row asks for, or the message saying why it cannot be made."""
    cells = cells + [None] * (NOTE + 1 - len(cells))
    item_id = _item_id(cells[ID])
    measure = items.get(item_id) if item_id is not None else None
    if measure is None:
        return str(_l("Unknown item “%(item)s”.", item=_text(cells[ID])))
    if measure.id in seen:
        return str(_l("Item %(item)d appears twice.", item=measure.id))
    seen.add(measure.id)
    status = statuses.get(_text(cells[STATUS]).casefold())
    if status is None:
        return str(_l("Unknown status “%(status)s”.", status=_text(cells[STATUS])))
    note, signed = _text(cells[NOTE]), _text(cells[SIGNED_OFF])
    if measure.signed_off and (status != measure.status or note or not signed):
        return str(_l("Item %(item)d is signed off; only the bureau can reopen it.",
                      item=measure.id))
    if not measure.signed_off and signed:
        return str(_l("Item %(item)d: only the bureau signs off an item.", item=measure.id))
    return measure, status, note


def import_file(filename: str, content: bytes, items: list[Measure], actor: User | None) -> int:
    """Apply the statuses and notes of an edited ledger file; return how many items changed.

    All or nothing: any bad row refuses the whole file, with every bad row named.
    """
    statuses, by_id = _labels(ITEM_STATUSES), {m.id: m for m in items}
    changes: list[tuple[int, tuple[Measure, str, str]]] = []
    errors: list[RowError] = []
    seen: set[int] = set()
    for number, cells in read_table(filename, content):
        if all(_text(cell) == "" for cell in cells):
            continue
        checked = _check(list(cells), by_id, statuses, seen)
        if isinstance(checked, str):
            errors.append(RowError(number, checked))
        elif checked[1] != checked[0].status or checked[2]:
            changes.append((number, checked))
    if errors:
        raise BulkError(errors)
    for number, (measure, status, note) in changes:
        try:
            ledger.report_progress(measure, status, note, [], actor)
        except PlanError as error:
            errors.append(RowError(number, str(error)))
    if errors:
        raise BulkError(errors)
    return len(changes)
