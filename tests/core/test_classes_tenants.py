"""The tenants file's school years and classes: loaded idempotently, mistakes named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from kaimen import orgs, provisioning
from kaimen.audit import AuditEvent
from kaimen.auth.models import find_user
from kaimen.classes import SchoolClass, SchoolYear, current_term, current_year, services
from kaimen.extensions import db
from kaimen.provisioning import TenantFileError

JIAYU = Path(__file__).resolve().parents[2] / "tenants" / "jiayu.toml"
VALID = """
[[bureau]]
slug = "t-county"
name = "测试县教育局"

[[school]]
slug = "t-school"
bureau = "t-county"
name = "测试学校"

[[user]]
username = "t.teacher"
display_name = "测试教师"
grants = [{ role = "teacher", org = "t-school" }]

[[user]]
username = "t.teacher2"
display_name = "第二教师"
grants = [{ role = "teacher", org = "t-school" }]

[[user]]
username = "t.admin"
display_name = "校长"
grants = [{ role = "school_admin", org = "t-school" }]

[[school_year]]
bureau = "t-county"
name = "2026-2027"
starts_on = 2026-09-01
ends_on = 2027-08-31
terms = [
  { starts_on = 2026-09-01, ends_on = 2027-01-31 },
  { starts_on = 2027-02-22, ends_on = 2027-07-09 },
]

[[class]]
school = "t-school"
school_year = "2026-2027"
grade = "七年级"
name = "1班"
class_teacher = "t.teacher"
teachers = ["t.teacher2"]

[[class]]
school = "t-school"
school_year = "2026-2027"
grade = 8
name = "1班"
"""

BAD = [
    ('grade = 8', 'grade = 13', "class[1].grade", "1 to 12"),
    ('grade = 8', 'grade = "高四"', "class[1].grade", "1 to 12"),
    ('class_teacher = "t.teacher"', 'class_teacher = "t.admin"', "class[0].class_teacher",
     "not a teacher"),
    ('class_teacher = "t.teacher"', 'class_teacher = "nobody"', "class[0].class_teacher",
     "nobody"),
    ('teachers = ["t.teacher2"]', 'teachers = ["t.admin"]', "class[0].teachers", "not a teacher"),
    ('teachers = ["t.teacher2"]', 'teachers = "t.teacher2"', "class[0].teachers", "array"),
    ('school_year = "2026-2027"\ngrade = 8', 'school_year = "2030-2031"\ngrade = 8',
     "class[1].school_year", "2030-2031"),
    ('school = "t-school"\nschool_year = "2026-2027"\ngrade = 8',
     'school = "nowhere"\nschool_year = "2026-2027"\ngrade = 8', "class[1].school", "nowhere"),
    ('ends_on = 2027-08-31', 'ends_on = 2026-08-31', "school_year[0].ends_on", "end after"),
    ('{ starts_on = 2027-02-22, ends_on = 2027-07-09 }',
     '{ starts_on = 2027-02-22, ends_on = 2027-09-09 }', "school_year[0].terms[1].starts_on",
     "inside"),
    ('{ starts_on = 2027-02-22, ends_on = 2027-07-09 }',
     '{ starts_on = 2027-01-22, ends_on = 2027-07-09 }', "school_year[0].terms[1].starts_on",
     "after the first"),
    ('starts_on = 2026-09-01\nends_on', 'starts_on = "first of September"\nends_on',
     "school_year[0].starts_on", "date"),
    ('name = "2026-2027"\n', 'name = "2026-2027"\ncolour = "red"\n', "school_year[0].colour",
     "unknown field"),
    ('name = "1班"\n', '', "class[0].name", "required"),
]


def state() -> tuple:
    db.session.expire_all()
    years = [
        (y.bureau_id, y.name, y.starts_on, y.ends_on, [(t.number, t.starts_on, t.ends_on)
                                                       for t in y.terms])
        for y in db.session.scalars(sa.select(SchoolYear).order_by(SchoolYear.id))
    ]
    classes = [
        (c.school_id, c.school_year_id, c.grade, c.name, c.class_teacher_id,
         [t.username for t in c.teachers])
        for c in db.session.scalars(sa.select(SchoolClass).order_by(SchoolClass.id))
    ]
    return years, classes


def events() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def load(tmp_path, text: str):
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    return path, provisioning.load(path, demo_password="demo password for tests")


def test_the_sections_load_and_a_second_load_changes_nothing(ctx, tmp_path):
    _path, report = load(tmp_path, VALID)
    assert (report.created, report.updated) == (2 + 3 + 1 + 2, 0)
    school = orgs.find("t-school", orgs.SCHOOL)
    year = current_year(school, on=date(2026, 10, 1))
    assert year is not None
    assert year.name == "2026-2027"
    assert [t.number for t in year.terms] == [1, 2]
    (first, second) = services.classes_of(school, year)
    assert (first.label(), first.class_teacher.username, [t.username for t in first.teachers]) == (
        "七年级1班", "t.teacher", ["t.teacher2"]
    )
    assert (second.label(), second.class_teacher) == ("八年级1班", None)
    before, count = state(), events()
    _path, again = load(tmp_path, VALID)
    assert (again.created, again.updated) == (0, 0)
    assert state() == before
    assert events() == count


def test_an_edited_file_updates_years_terms_and_teachers(ctx, tmp_path):
    load(tmp_path, VALID)
    edited = VALID.replace('teachers = ["t.teacher2"]', "teachers = []").replace(
        "  { starts_on = 2027-02-22, ends_on = 2027-07-09 },\n", ""
    )
    _path, report = load(tmp_path, edited)
    assert report.updated == 2
    years, classes = state()
    assert len(years[0][4]) == 1
    assert classes[0][5] == []


@pytest.mark.parametrize(("old", "new", "where", "words"), BAD, ids=[b[2] for b in BAD])
def test_mistakes_name_the_file_and_field_and_load_nothing(ctx, county, tmp_path, old, new,
                                                           where, words):
    assert old in VALID
    path = tmp_path / "bad.toml"
    path.write_text(VALID.replace(old, new, 1), encoding="utf-8")
    before = state()
    with pytest.raises(TenantFileError) as error:
        provisioning.load(path, demo_password="demo password for tests")
    text = str(error.value)
    assert text.startswith(f"{path}: {where}: "), text
    assert words in text
    db.session.rollback()
    assert state() == before
    assert orgs.find("t-county", orgs.BUREAU) is None


def test_jiayu_gives_every_school_classes_led_by_its_demo_teacher(ctx):
    provisioning.load(JIAYU, demo_password="demo password for tests")
    county = orgs.find("jiayu", orgs.BUREAU)

    year = current_year(county, on=date(2026, 11, 1))
    assert year is not None
    assert year.name == "2026-2027"
    assert current_term(county, on=date(2026, 11, 1)).starts_on == date(2026, 9, 1)
    for school in orgs.schools_under(county):
        classes = services.classes_of(school, year)
        assert len(classes) >= 2, school.slug
        teachers = {c.class_teacher.username for c in classes}
        assert all(find_user(t).roles_on(school) == {"teacher"} for t in teachers), school.slug
