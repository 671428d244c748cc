"""Import classes from a spreadsheet: .xlsx, or CSV in UTF-8 or the GBK Chinese Excel writes.

All or nothing: every row is checked first, and a file with any mistake
imports nothing and gets a report naming each bad row and column. Rows name a
class by school year, grade and name; a class already there is updated, so
importing the same file again changes nothing. The columns are those of the
export (``COLUMNS``), headed in Chinese or in English.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from ..auth.models import User
from ..extensions import db
from ..orgs import Organisation
from . import services
from .models import SchoolClass, SchoolYear, grade_label

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 3000
# Column key, its heading in exports, and the headings accepted on import.
COLUMNS: list[tuple[str, Any, set[str]]] = [
    ("school_year", _l("School year"), {"学年", "school year", "school_year", "year"}),
    ("grade", _l("Grade"), {"年级", "grade"}),
    ("name", _l("Class"), {"班级", "班级名称", "班名", "class", "name", "class name"}),
    ("class_teacher", _l("Class teacher"), {"班主任", "class teacher", "class_teacher"}),
    ("teachers", _l("Other teachers"), {"任课教师", "其他教师", "other teachers", "teachers"}),
]
REQUIRED = ("grade", "name")
_ZH_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}
_SEPARATORS = re.compile(r"[\s,，、;；/]+")
_DASHES = re.compile(r"\s*[-—–－~～至]+\s*")


@dataclass(frozen=True)
class Problem:
    """One mistake in the file: its row (1 is the heading), its column, what is wrong."""

    row: int | None
    column: str
    message: str


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class FileProblem(ValueError):
    """The file as a whole cannot be read."""


def column_label(key: str) -> str:
    return next(str(label) for k, label, _names in COLUMNS if k == key)


# -- reading the file ---------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value).strip()


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise FileProblem(_("This is not an Excel (.xlsx) file that can be read.")) from None
    sheet = workbook.worksheets[0]
    for cells in sheet.iter_rows():
        row = []
        for cell in cells:
            if getattr(cell, "data_type", None) == "f":
                message = _(
                    "Cell %(cell)s holds a formula: type its value instead.", cell=cell.coordinate
                )
                raise FileProblem(message)
            row.append(cell.value)
        yield row
    workbook.close()


def _csv_rows(content: bytes) -> Iterator[list[Any]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")  # what Chinese Excel saves as "CSV", GBK's superset
        except UnicodeDecodeError:
            raise FileProblem(_("The CSV file is neither UTF-8 nor GBK text.")) from None
    if "\0" in text:
        raise FileProblem(_("The CSV file is neither UTF-8 nor GBK text."))
    yield from csv.reader(io.StringIO(text, newline=""))


def table_rows(filename: str, content: bytes) -> Iterator[list[Any]]:
    """Yield the raw rows of an .xlsx sheet or a UTF-8/GBK CSV file; ``FileProblem`` if unreadable.

    Shared by every import of a table that staff keep in Excel (classes, rosters).
    """
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if suffix == "xlsx":
        return _xlsx_rows(content)
    if suffix == "csv":
        return _csv_rows(content)
    raise FileProblem(_("Upload an Excel (.xlsx) or CSV (.csv) file."))


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """Return (row number, {column key: text}) for each non-empty row under the heading."""
    if len(content) > MAX_BYTES:
        raise FileProblem(_("The file is larger than 5 MB."))
    rows = table_rows(filename, content)
    heading = [_text(v).lower() for v in next(rows, [])]
    keys: dict[int, str] = {}
    for index, title in enumerate(heading):
        for key, _label, names in COLUMNS:
            if title in names:
                keys[index] = key
    missing = [key for key in REQUIRED if key not in keys.values()]
    if missing:
        raise FileProblem(
            _(
                "The first row must name the columns; missing: %(columns)s.",
                columns=", ".join(column_label(key) for key in missing),
            )
        )
    found: list[tuple[int, dict[str, str]]] = []
    for number, row in enumerate(rows, start=2):
        values = {key: _text(row[i]) if i < len(row) else "" for i, key in keys.items()}
        if not any(values.values()):
            continue
        if len(found) >= MAX_ROWS:
            raise FileProblem(_("The file has more than %(count)d rows.", count=MAX_ROWS))
        found.append((number, values))
    return found


# -- understanding the cells --------------------------------------------------------------


def parse_grade(text: str) -> int | None:
    """Read 7, 七年级, 初一 or 高一 (10), Grade 7; None when it is not a grade."""
    value = text.strip().lower().replace(" ", "").removeprefix("grade")
    value = value.removesuffix("年级").removesuffix("级")
    if value.isdigit():
        number = int(value)
    elif value[:1] in ("初", "高") and value[1:] in ("一", "二", "三"):
        number = _ZH_DIGITS[value[1:]] + (6 if value[0] == "初" else 9)
    elif value in _ZH_DIGITS:
        number = _ZH_DIGITS[value]
    else:
        return None
    return number if 1 <= number <= 12 else None


def year_key(name: str) -> str:
    """Return a school year's name as compared: 2026—2027学年 matches 2026-2027."""
    return _DASHES.sub("-", name.strip().removesuffix("学年").removesuffix("年度")).lower()


class _Teachers:
    """The school's teachers, found by username or, when unambiguous, by full name."""

    def __init__(self, school: Organisation) -> None:
        self.by_username: dict[str, User] = {}
        names: dict[str, list[User]] = {}
        for user in services.teachers_of(school):
            self.by_username[user.username] = user
            names.setdefault(user.display_name.strip(), []).append(user)
        self.by_name = names

    def find(self, text: str) -> tuple[User | None, str | None]:
        user = self.by_username.get(text.lower())
        if user is not None:
            return user, None
        matches = self.by_name.get(text, [])
        if len(matches) == 1:
            return matches[0], None
        if matches:
            return None, _("%(name)s names several teachers: use the username.", name=text)
        return None, _("%(name)s is not a teacher of this school.", name=text)


@dataclass
class _Row:
    number: int
    year: SchoolYear
    grade: int
    name: str
    class_teacher: User | None
    teachers: list[User]


def _year_of(
    values: dict[str, str], years: dict[str, SchoolYear], default_year: SchoolYear | None
) -> tuple[SchoolYear | None, str | None]:
    if values.get("school_year"):
        year = years.get(year_key(values["school_year"]))
        if year is None:
            return None, _("No school year %(name)s.", name=values["school_year"])
        return year, None
    if default_year is None:
        return None, _("Name the school year.")
    return default_year, None


def _teachers_in(text: str, teachers: _Teachers, problem: Callable[[str, str], None]) -> list[User]:
    found = []
    for name in _SEPARATORS.split(text):
        if name:
            teacher, message = teachers.find(name)
            if message:
                problem("teachers", message)
            elif teacher is not None:
                found.append(teacher)
    return found


def _check_row(
    number: int,
    values: dict[str, str],
    years: dict[str, SchoolYear],
    default_year: SchoolYear | None,
    teachers: _Teachers,
    problems: list[Problem],
) -> _Row | None:
    before = len(problems)

    def problem(key: str, message: str) -> None:
        problems.append(Problem(number, column_label(key), message))

    year, message = _year_of(values, years, default_year)
    if message:
        problem("school_year", message)
    grade = parse_grade(values.get("grade", ""))
    if grade is None:
        problem("grade", _("Give a grade from 1 to 12, such as 7, 七年级 or 高一."))
    name = values.get("name", "")
    if not name:
        problem("name", _("Name the class, such as 1班."))
    elif len(name) > services.NAME_LENGTH:
        problem("name", _("Give the class a name of at most 40 characters."))
    class_teacher = None
    if values.get("class_teacher"):
        class_teacher, message = teachers.find(values["class_teacher"])
        if message:
            problem("class_teacher", message)
    others = _teachers_in(values.get("teachers", ""), teachers, problem)
    if len(problems) > before or year is None or grade is None:
        return None
    return _Row(number, year, grade, name, class_teacher, others)


def import_classes(
    school: Organisation, filename: str, content: bytes, default_year: SchoolYear | None
) -> ImportReport:
    """Check the whole file, then create or update its classes; on any problem write nothing."""
    report = ImportReport()
    try:
        rows = read_rows(filename, content)
    except FileProblem as error:
        report.problems.append(Problem(None, "", str(error)))
        return report
    if not rows:
        report.problems.append(Problem(None, "", _("The file has no classes under its heading.")))
        return report
    years = {year_key(y.name): y for y in services.years_of(school)}
    teachers = _Teachers(school)
    checked: list[_Row] = []
    seen: dict[tuple[int, int, str], int] = {}
    for number, values in rows:
        row = _check_row(number, values, years, default_year, teachers, report.problems)
        if row is None:
            continue
        key = (row.year.id, row.grade, row.name)
        if key in seen:
            report.problems.append(
                Problem(number, column_label("name"), _("Repeats row %(row)d.", row=seen[key]))
            )
            continue
        seen[key] = number
        checked.append(row)
    if report.problems:
        return report
    existing = {
        (c.school_year_id, c.grade, c.name): c
        for c in db.session.scalars(
            sa.select(SchoolClass).where(
                SchoolClass.school_id == school.id,
                SchoolClass.school_year_id.in_({row.year.id for row in checked}),
            )
        )
    }
    savepoint = db.session.begin_nested()
    for row in checked:
        school_class = existing.get((row.year.id, row.grade, row.name))
        try:
            _saved, changed = services.save_class(
                school,
                school_class,
                year=row.year,
                grade=row.grade,
                name=row.name,
                class_teacher=row.class_teacher,
                teachers=row.teachers,
            )
        except services.ClassError as error:
            report.problems.append(Problem(row.number, column_label(error.field), str(error)))
            continue
        label = f"{row.year.name} {grade_label(row.grade)}{row.name}"
        if school_class is None:
            report.created.append(label)
        elif changed:
            report.updated.append(label)
        else:
            report.unchanged += 1
    if report.problems:
        savepoint.rollback()
        report.created, report.updated, report.unchanged = [], [], 0
    else:
        savepoint.commit()
    return report


def export_rows(classes: list[SchoolClass]) -> tuple[list[str], list[list[Any]]]:
    """Return the heading and rows of ``classes`` in the import's own format."""
    headers = [str(label) for _key, label, _names in COLUMNS]
    rows = [
        [
            c.school_year.name,
            c.grade,
            c.name,
            c.class_teacher.username if c.class_teacher else "",
            " ".join(t.username for t in c.teachers),
        ]
        for c in classes
    ]
    return headers, rows
