"""Importing classes from CSV (UTF-8 and GBK) and Excel: all or nothing, named mistakes."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from classes_helpers import make_year
from flask_babel import force_locale

from kaimen.audit import AuditEvent
from kaimen.auth.models import find_user
from kaimen.classes import SchoolClass, importer
from kaimen.export import csv_bytes, xlsx_bytes
from kaimen.extensions import db

SAMPLE = Path(__file__).resolve().parents[2] / "tenants" / "classes-sample.csv"
HEADING = ["学年", "年级", "班级", "班主任", "任课教师"]
ROWS = [
    ["2026-2027", "七年级", "1班", "a1.teacher", "a1.teacher2"],
    ["2026—2027学年", "初一", "2班", "二老师", "a1.teacher、A1.Teacher"],
    ["", "高一", "(1)班", "", ""],
]


@pytest.fixture
def school(ctx, county, make):
    make.user("a1.teacher2", "teacher", county.a1, display_name="二老师")
    county.year = make_year(county.a)
    db.session.commit()
    with force_locale("en"):
        yield county


def csv_file(rows, encoding="utf-8-sig", heading=HEADING) -> bytes:
    lines = [",".join(heading)] + [",".join(row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_file(rows, heading=HEADING) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(heading)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def state() -> list[tuple]:
    db.session.expire_all()
    classes = db.session.scalars(sa.select(SchoolClass).order_by(SchoolClass.id)).all()
    return [
        (c.school_id, c.school_year_id, c.grade, c.name, c.class_teacher_id,
         [t.username for t in c.teachers])
        for c in classes
    ]


def event_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def run(county, filename, content):
    report = importer.import_classes(county.a1, filename, content, county.year)
    db.session.commit()
    return report


@pytest.mark.parametrize(
    ("filename", "encoding"),
    [("classes.csv", "utf-8-sig"), ("classes.csv", "utf-8"), ("班级.CSV", "gbk"), ("c.xlsx", None)],
)
def test_a_good_file_imports_and_a_second_import_changes_nothing(school, filename, encoding):
    content = xlsx_file(ROWS) if encoding is None else csv_file(ROWS, encoding)
    report = run(school, filename, content)
    assert report.ok, report.problems
    assert len(report.created) == 3
    teacher, teacher2 = find_user("a1.teacher").id, find_user("a1.teacher2").id
    assert state() == [
        (school.a1.id, school.year.id, 7, "1班", teacher, ["a1.teacher2"]),
        (school.a1.id, school.year.id, 7, "2班", teacher2, ["a1.teacher"]),  # found by name
        (school.a1.id, school.year.id, 10, "(1)班", None, []),
    ]
    before, events = state(), event_count()
    again = run(school, filename, content)
    assert again.ok
    assert (again.created, again.updated, again.unchanged) == ([], [], 3)
    assert state() == before
    assert event_count() == events


def test_an_edited_file_updates_the_classes_it_names(school):
    run(school, "c.csv", csv_file(ROWS))
    edited = [list(ROWS[0]), ["2026-2027", "8", "1班", "a1.teacher", ""]]
    edited[0][4] = ""
    report = run(school, "c.csv", csv_file(edited))
    assert report.ok
    assert (len(report.created), len(report.updated), report.unchanged) == (1, 1, 0)
    assert len(state()) == 4  # classes the file does not name stay


def test_bad_rows_are_each_named_and_nothing_is_imported(school):
    rows = ROWS + [
        ["2026-2027", "十三年级", "1班", "", ""],
        ["2030-2031", "7", "3班", "", ""],
        ["2026-2027", "7", "", "nobody", ""],
        ["2026-2027", "7", "4班", "a1.admin", "a2.admin"],
        ["2026-2027", "七年级", "1班", "", ""],
    ]
    report = run(school, "c.csv", csv_file(rows))
    problems = {(p.row, p.column) for p in report.problems}
    assert problems == {
        (5, "Grade"),
        (6, "School year"),
        (7, "Class"),
        (7, "Class teacher"),
        (8, "Class teacher"),
        (8, "Other teachers"),
        (9, "Class"),
    }
    messages = " ".join(p.message for p in report.problems)
    assert "nobody is not a teacher of this school" in messages
    assert "Repeats row 2" in messages
    assert report.created == []
    assert state() == []


@pytest.mark.parametrize(
    ("filename", "content", "words"),
    [
        ("c.txt", b"grade,name\n7,1\n", "Upload an Excel"),
        ("c.csv", "年级,老师\n7,1\n".encode(), "missing: Class"),
        ("c.csv", b"\xff\xfe\x00\x00garbage", "neither UTF-8 nor GBK"),
        ("c.xlsx", b"not a zip", "not an Excel"),
        ("c.csv", "年级,班级\n\n,\n".encode(), "no classes"),
        ("c.csv", b"x" * (importer.MAX_BYTES + 1), "5 MB"),
    ],
)
def test_unreadable_files_get_one_clear_problem(school, filename, content, words):
    report = run(school, filename, content)
    assert len(report.problems) == 1
    assert report.problems[0].row is None
    assert words in report.problems[0].message
    assert state() == []


def test_formulas_in_cells_are_refused(school):
    content = xlsx_file([["2026-2027", 7, "=HYPERLINK(\"http://x\")", "", ""]])
    report = run(school, "c.xlsx", content)
    assert "C2 holds a formula" in report.problems[0].message
    assert state() == []


def test_rows_without_a_year_take_the_chosen_one_or_are_named(school):
    report = importer.import_classes(school.a1, "c.csv", csv_file([["", "7", "1班", "", ""]]),
                                     None)
    assert [(p.row, p.column) for p in report.problems] == [(2, "School year")]


def test_the_export_imports_back_unchanged(school):
    run(school, "c.csv", csv_file(ROWS))
    headers, rows = importer.export_rows(
        list(db.session.scalars(sa.select(SchoolClass).order_by(SchoolClass.id)))
    )
    before = state()
    for filename, content in (("e.csv", csv_bytes(headers, rows)),
                              ("e.xlsx", xlsx_bytes("classes", headers, rows))):
        report = run(school, filename, content)
        assert report.ok, report.problems
        assert report.unchanged == 3
        assert state() == before


@pytest.mark.parametrize(
    ("text", "grade"),
    [("7", 7), ("七年级", 7), ("初一", 7), ("初三", 9), ("高一", 10), ("高三", 12), ("一年级", 1),
     ("Grade 11", 11), ("12", 12), ("0", None), ("13", None), ("高四", None), ("", None)],
)
def test_grades_as_staff_write_them(text, grade):
    assert importer.parse_grade(text) == grade


def test_the_shipped_sample_is_gbk_safe_utf8_with_the_chinese_heading():
    text = SAMPLE.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == HEADING
    text.encode("gbk")  # every name in it survives a save as GBK by Chinese Excel
