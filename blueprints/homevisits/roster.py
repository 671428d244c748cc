"""Import a school's roster: .xlsx, or CSV in UTF-8 or the GBK that Chinese Excel writes.

All or nothing: every row is checked first, and a file with any mistake imports
nothing and gets a report naming each bad row and column. Students are matched by
student number, so importing the same file again changes nothing, and a changed
file (a new school year's classes) updates students without touching their visits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from kaimen import Organisation, audit, db
from kaimen.classes import (
    FileProblem,
    SchoolClass,
    SchoolYear,
    classes_of,
    parse_grade,
    table_rows,
)

from .models import NAME_LENGTH, NUMBER_LENGTH, PHONE_LENGTH, Guardian, Student

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
GUARDIANS = 2
# Column key, its heading in the sample file, and the headings accepted on import.
COLUMNS: list[tuple[str, Any, set[str]]] = [
    ("number", _l("Student number"), {"学号", "学籍号", "student number", "number"}),
    ("name", _l("Name"), {"姓名", "学生姓名", "name", "student"}),
    ("grade", _l("Grade"), {"年级", "grade"}),
    ("class", _l("Class"), {"班级", "班名", "class"}),
]
for _n in range(1, GUARDIANS + 1):
    COLUMNS += [
        (f"guardian{_n}", _l("Guardian %(n)d", n=_n),
         {f"监护人{_n}", f"家长{_n}", f"guardian {_n}", f"guardian{_n}"}),
        (f"relation{_n}", _l("Relation %(n)d", n=_n),
         {f"关系{_n}", f"与学生关系{_n}", f"relation {_n}", f"relation{_n}"}),
        (f"phone{_n}", _l("Phone %(n)d", n=_n),
         {f"电话{_n}", f"联系电话{_n}", f"phone {_n}", f"phone{_n}"}),
    ]
REQUIRED = ("number", "name", "grade", "class")
PHONE_CHARACTERS = set("0123456789+-() ")
FORMULA_START = ("=", "+", "-", "@")


@dataclass(frozen=True)
class Problem:
    """One mistake in the file: its row (1 is the heading), its column, what is wrong."""

    row: int | None
    column: str
    message: str


@dataclass
class RosterReport:
    """What an import did, or, when ``problems`` is not empty, why it did nothing."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def column_label(key: str) -> str:
    return next(str(label) for k, label, _names in COLUMNS if k == key)


def headings() -> list[str]:
    """Return the sample file's heading row in the current language."""
    return [column_label(key) for key, _label, _names in COLUMNS]


# -- reading the file ---------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value).strip()


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """Return (row number, {column key: text}) for each non-empty row under the heading."""
    if len(content) > MAX_BYTES:
        raise FileProblem(_("The file is larger than %(size)d MB.", size=MAX_BYTES // 2**20))
    rows = table_rows(filename, content)
    heading = [_text(v).lower() for v in next(rows, [])]
    keys: dict[int, str] = {}
    for index, title in enumerate(heading):
        for key, _label, names in COLUMNS:
            if title in names:
                keys[index] = key
    missing = [key for key in REQUIRED if key not in keys.values()]
    if missing:
        raise FileProblem(_("The first row must name the columns; missing: %(columns)s.",
                            columns=", ".join(column_label(key) for key in missing)))
    found: list[tuple[int, dict[str, str]]] = []
    for number, row in enumerate(rows, start=2):
        values = {key: _text(row[i]) if i < len(row) else "" for i, key in keys.items()}
        if not any(values.values()):
            continue  # an empty row, as spreadsheets keep them
        if len(found) >= MAX_ROWS:
            raise FileProblem(_("The file has more than %(count)d rows.", count=MAX_ROWS))
        found.append((number, values))
    return found


# -- checking the rows ---------------------------------------------------------------------


@dataclass
class RosterRow:
    """A checked row: the student and their guardians, ready to save."""

    row: int
    number: str
    name: str
    school_class: SchoolClass
    guardians: list[tuple[str, str, str]]  # (name, relation, phone)


def _class_key(grade: int, name: str) -> tuple[int, str]:
    return grade, name.strip().removesuffix("班").strip()


def _check_row(
    number: int,
    values: dict[str, str],
    classes: dict[tuple[int, str], SchoolClass],
    problems: list[Problem],
) -> RosterRow | None:
    before = len(problems)

    def problem(key: str, message: str) -> None:
        problems.append(Problem(number, column_label(key), message))

    for key, text in values.items():
        if text.startswith(FORMULA_START) and not (key.startswith("phone") and text[:1] == "+"):
            problem(key, _("Starts like a formula: type the value without =, +, - or @."))
    student_number = values.get("number", "")
    if not student_number:
        problem("number", _("Give the student number."))
    elif len(student_number) > NUMBER_LENGTH:
        problem("number", _("Give a student number of at most %(count)d characters.",
                            count=NUMBER_LENGTH))
    name = values.get("name", "")
    if not name:
        problem("name", _("Give the student's name."))
    elif len(name) > NAME_LENGTH:
        problem("name", _("Give a name of at most %(count)d characters.", count=NAME_LENGTH))
    grade = parse_grade(values.get("grade", ""))
    school_class = None
    if grade is None:
        problem("grade", _("Give a grade from 1 to 12, such as 7, 七年级 or 高一."))
    elif not values.get("class"):
        problem("class", _("Name the class, such as 1班."))
    else:
        school_class = classes.get(_class_key(grade, values["class"]))
        if school_class is None:
            problem("class", _("The school has no such class this school year: add it first."))
    guardians = _check_guardians(values, problem)
    if len(problems) > before or school_class is None:
        return None
    return RosterRow(number, student_number, name, school_class, guardians)


def _check_guardians(
    values: dict[str, str], problem: Callable[[str, str], None]
) -> list[tuple[str, str, str]]:
    guardians = []
    for n in range(1, GUARDIANS + 1):
        name = values.get(f"guardian{n}", "")
        relation = values.get(f"relation{n}", "")
        phone = values.get(f"phone{n}", "")
        if not (name or relation or phone):
            continue
        if not name:
            problem(f"guardian{n}", _("Name the guardian, or leave the relation and phone empty."))
        elif len(name) > NAME_LENGTH:
            problem(f"guardian{n}", _("Give a name of at most %(count)d characters.",
                                      count=NAME_LENGTH))
        if len(relation) > 20:
            problem(f"relation{n}", _("Give the relation in at most 20 characters."))
        if phone and (not set(phone) <= PHONE_CHARACTERS or len(phone) > PHONE_LENGTH
                      or sum(c.isdigit() for c in phone) < 3):
            problem(f"phone{n}", _("Enter a telephone number: digits, spaces, + and -."))
        guardians.append((name, relation, phone))
    return guardians


def check_rows(
    school: Organisation, year: SchoolYear | None, rows: list[tuple[int, dict[str, str]]]
) -> tuple[list[RosterRow], list[Problem]]:
    """Check every row against the school's classes of ``year``; return rows and problems."""
    problems: list[Problem] = []
    if year is None:
        return [], [Problem(None, "", _("The bureau has no school year under way yet."))]
    classes = {_class_key(c.grade, c.name): c for c in classes_of(school, year)}
    checked: list[RosterRow] = []
    seen: dict[str, int] = {}
    for number, values in rows:
        row = _check_row(number, values, classes, problems)
        if row is None:
            continue
        if row.number in seen:
            problems.append(Problem(number, column_label("number"),
                                    _("Repeats row %(row)d.", row=seen[row.number])))
            continue
        seen[row.number] = number
        checked.append(row)
    return checked, problems


# -- saving ------------------------------------------------------------------------------


def _save_row(student: Student | None, row: RosterRow,
              school: Organisation) -> tuple[Student, bool]:
    """Create or update one student and their guardians; tell whether anything changed."""
    changed = student is None
    if student is None:
        student = Student(school_id=school.id, number=row.number, name=row.name)
        db.session.add(student)
    for attr, value in (("name", row.name), ("school_class_id", row.school_class.id)):
        if getattr(student, attr) != value:
            setattr(student, attr, value)
            changed = True
    current = [(g.name, g.relation, g.phone) for g in student.guardians]
    if current != row.guardians:
        student.guardians[:] = [
            Guardian(school_id=school.id, position=i, name=n, relation=r, phone=p)
            for i, (n, r, p) in enumerate(row.guardians)
        ]
        changed = True
    return student, changed


def import_roster(
    school: Organisation,
    year: SchoolYear | None,
    filename: str,
    content: bytes,
    progress: Callable[[int], None] | None = None,
) -> RosterReport:
    """Check the whole file, then create or update its students; on any problem write nothing.

    ``progress`` is told how many rows were saved since its last call (the CLI's bar).
    The caller commits; the audit event holds counts, never a name or a number.
    """
    report = RosterReport()
    try:
        rows = read_rows(filename, content)
    except FileProblem as error:
        report.problems.append(Problem(None, "", str(error)))
        return report
    if not rows:
        report.problems.append(Problem(None, "", _("The file has no students under its heading.")))
        return report
    checked, report.problems = check_rows(school, year, rows)
    if report.problems:
        return report
    existing = {s.number: s for s in db.session.scalars(
        sa.select(Student).options(selectinload(Student.guardians))
        .where(Student.school_id == school.id, Student.number.in_([r.number for r in checked]))
    )}
    for index, row in enumerate(checked, start=1):
        student = existing.get(row.number)
        _student, changed = _save_row(student, row, school)
        if student is None:
            report.created += 1
        elif changed:
            report.updated += 1
        else:
            report.unchanged += 1
        if progress is not None and index % 100 == 0:
            progress(100)
    if progress is not None:
        progress(len(checked) % 100)
    if report.created or report.updated:
        audit.record("homevisits.roster_imported", school=school,
                     data={"created": report.created, "updated": report.updated,
                           "unchanged": report.unchanged})
    return report
