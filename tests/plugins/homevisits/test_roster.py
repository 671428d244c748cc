"""The roster import: CSV in UTF-8 and GBK, .xlsx, all or nothing, idempotent, a report per row."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from blueprints.homevisits import roster, services
from blueprints.homevisits.models import Guardian, HomeVisit, Student
from kaimen.classes import services as class_services
from kaimen.extensions import db

from .conftest import ROSTER_CSV, visit_values


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def counts() -> tuple[int, int]:
    return (db.session.scalar(sa.select(sa.func.count(Student.id))),
            db.session.scalar(sa.select(sa.func.count(Guardian.id))))


def run(hv, name: str, content: bytes) -> roster.RosterReport:
    return roster.import_roster(hv.county.a1, hv.year, name, content)


def test_the_same_file_again_changes_nothing(hv):
    before = counts()
    report = run(hv, "roster.csv", ROSTER_CSV.encode())
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert counts() == before == (4, 4)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_csv_from_chinese_excel_and_utf8(hv, encoding):
    content = ("学号,姓名,年级,班级,监护人1,关系1,电话1\n"
               "S100,欧阳娜娜,七年级,2班,欧阳峰,父亲,139-0000-0000\n")
    report = run(hv, "名单.csv", content.encode(encoding))
    assert report.ok
    assert report.created == 1
    student = db.session.scalar(sa.select(Student).where(Student.number == "S100"))
    assert student.name == "欧阳娜娜"
    assert student.guardians[0].relation == "父亲"


def test_xlsx_with_english_headings(hv):
    content = xlsx([["Student number", "Name", "Grade", "Class", "Guardian 1", "Phone 1"],
                    ["S200", "Test Pupil", 7, "1班", "Test Parent", "+86 139 0000 0001"]])
    report = run(hv, "roster.xlsx", content)
    assert report.ok
    assert report.created == 1


def test_a_changed_file_updates_by_number_and_keeps_the_visits(hv):
    student = hv.students["S001"]
    services.log_visit(hv.county.a1, hv.teacher, student, visit_values(hv.today))
    db.session.commit()
    moved = ROSTER_CSV.replace("S001,林小雨,七年级,1班,林大海,父亲,13800000001",
                               "S001,林小雨,七年级,2班,林大海,父亲,13900000009")
    report = run(hv, "roster.csv", moved.encode())
    db.session.commit()
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    db.session.refresh(student)
    assert student.school_class_id == hv.class2.id
    assert student.guardians[0].phone == "13900000009"
    visit = db.session.scalar(sa.select(HomeVisit))
    assert visit.student_id == student.id
    assert visit.school_class_id == hv.class1.id


def test_a_new_school_year_moves_students_to_its_classes(hv):
    """Students move between classes at a new school year; their visits stay with them."""
    next_year, _ = class_services.save_year(
        hv.county.a, None, name="next", starts_on=hv.year.ends_on + timedelta(days=1),
        ends_on=hv.year.ends_on.replace(year=hv.year.ends_on.year + 1), terms=[])
    grade8, _ = class_services.save_class(hv.county.a1, None, year=next_year, grade=8,
                                          name="1班", class_teacher=hv.teacher)
    student = hv.students["S001"]
    services.log_visit(hv.county.a1, hv.teacher, student, visit_values(hv.today))
    content = "学号,姓名,年级,班级\nS001,林小雨,八年级,1班\n".encode()
    report = roster.import_roster(hv.county.a1, next_year, "r.csv", content)
    assert report.ok
    assert report.updated == 1
    assert student.school_class_id == grade8.id
    assert len(db.session.scalars(sa.select(HomeVisit)
                                  .where(HomeVisit.student_id == student.id)).all()) == 1


def problems_of(hv, name: str, content: bytes) -> list[tuple[int | None, str, str]]:
    before = counts()
    report = run(hv, name, content)
    db.session.flush()
    assert not report.ok
    assert counts() == before
    assert report.created == report.updated == 0
    return [(p.row, p.column, p.message) for p in report.problems]


def test_a_file_with_any_mistake_imports_nothing_and_names_each_row_and_field(hv):
    content = ("学号,姓名,年级,班级,监护人1,电话1\n"
               "S300,好学生,七年级,1班,家长,13800000000\n"
               "\n"
               ",无学号,七年级,1班,,\n"
               "S301,,十三年级,1班,,\n"
               "S302,错班,七年级,9班,,\n"
               "S300,重复,七年级,1班,,\n"
               "S303,电话错,七年级,1班,家长,call me\n").encode()
    found = problems_of(hv, "r.csv", content)
    assert (4, "Student number", "Give the student number.") in found
    assert (5, "Name", "Give the student's name.") in found
    assert any(row == 5 and column == "Grade" for row, column, _m in found)
    assert any(row == 6 and column == "Class" for row, column, _m in found)
    assert (7, "Student number", "Repeats row 2.") in found
    assert any(row == 8 and column == "Phone 1" for row, column, _m in found)
    assert not any(row == 2 for row, *_rest in found)  # the good row, and the empty row 3
    assert not any(row == 3 for row, *_rest in found)


def test_wrong_columns_an_unknown_type_and_undecodable_text_are_reported(hv):
    assert "missing" in problems_of(hv, "r.csv", "姓名,年级\n张三,7\n".encode())[0][2]
    assert "Upload an Excel" in problems_of(hv, "r.txt", b"x")[0][2]
    assert "neither UTF-8 nor GBK" in problems_of(hv, "r.csv", b"\xff\xfe\x00\x81\xff")[0][2]
    assert "not an Excel" in problems_of(hv, "r.xlsx", b"PK not a zip")[0][2]


def test_a_20_mb_file_is_refused_unread(hv):
    found = problems_of(hv, "r.csv", b"a" * (20 * 1024 * 1024))
    assert "larger than" in found[0][2]


def test_formulas_are_refused_in_xlsx_and_csv(hv):
    content = xlsx([["学号", "姓名", "年级", "班级"], ["S400", "=HYPERLINK(\"x\")", 7, "1班"]])
    assert "formula" in problems_of(hv, "r.xlsx", content)[0][2]
    csv_formula = "学号,姓名,年级,班级\nS401,=1+1,七年级,1班\n".encode()
    assert (2, "Name", "Starts like a formula: type the value without =, +, - or @.") in \
        problems_of(hv, "r.csv", csv_formula)


def test_a_file_of_3000_students_imports_in_one_go(hv):
    lines = ["学号,姓名,年级,班级,监护人1,关系1,电话1"] + [
        f"B{n:05d},学生{n},七年级,{1 + n % 2}班,家长{n},母亲,1380000{n:04d}" for n in range(3000)]
    report = run(hv, "big.csv", "\n".join(lines).encode("gbk"))
    assert report.ok
    assert report.created == 3000
    assert run(hv, "big.csv", "\n".join(lines).encode("gbk")).unchanged == 3000


def test_the_sample_roster_of_the_readme_imports(hv):
    for grade, name in ((1, "1班"), (1, "2班"), (3, "1班")):
        class_services.save_class(hv.county.a1, None, year=hv.year, grade=grade, name=name,
                                  class_teacher=None)
    sample = Path(__file__).resolve().parents[3] / "tenants" / "roster-sample.csv"
    report = run(hv, sample.name, sample.read_bytes())
    assert report.ok, report.problems
    assert report.created == 7


def test_the_command_imports_with_progress_in_one_transaction(app, hv, tmp_path):
    from click.testing import CliRunner

    lines = ["学号,姓名,年级,班级"] + [f"C{n:04d},学生{n},七年级,1班" for n in range(250)]
    path = tmp_path / "roster.csv"
    path.write_bytes("\n".join(lines).encode("gbk"))
    result = CliRunner().invoke(app.cli, ["kaimen", "homevisits", "import-roster", "a1",
                                          str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "a1: 250 new, 0 changed, 0 unchanged" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Student.id))
                             .where(Student.number.like("C%"))) == 250


def test_the_roster_page_refuses_a_20_mb_file_with_a_message(app, hv):
    from conftest import login

    client = app.test_client()
    client.set_cookie("kaimen_locale", "en")
    login(client, "a1.admin")
    big = FileStorage(io.BytesIO(b"a" * (20 * 1024 * 1024)), "big.csv")
    # Encoded in memory: the test client would spool a large body to an unclosed temp file.
    boundary, body = encode_multipart(MultiDict({"file": big}))
    response = client.post("/s/a1/homevisits/roster", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 200
    assert "The file is larger than 10 MB." in response.get_data(as_text=True)
    assert counts() == (4, 4)
