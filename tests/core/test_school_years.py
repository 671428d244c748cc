"""School years, terms and classes: the rules, the current year and term, and audit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from classes_helpers import TERMS, make_year
from flask_babel import force_locale

from kaimen import audit
from kaimen.audit import AuditEvent
from kaimen.classes import (
    SchoolClass,
    classes_taught_by,
    current_term,
    current_year,
    grade_label,
    services,
)
from kaimen.extensions import db
from kaimen.timeutil import local_date


@pytest.fixture
def english(ctx):
    with force_locale("en"):
        yield


def actions() -> list[str]:
    """Return the audit log's actions once the work so far is committed (chained at commit)."""
    db.session.commit()
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_years_must_not_overlap_and_terms_lie_inside(county, english):
    make_year(county.a)
    cases = [
        (dict(name="2026-2027 bis", starts_on=date(2027, 8, 1), ends_on=date(2028, 7, 31)),
         "starts_on", "overlap"),
        (dict(name="2026-2027", starts_on=date(2030, 9, 1), ends_on=date(2031, 8, 31)),
         "name", "already"),
        (dict(name="x", starts_on=date(2030, 9, 1), ends_on=date(2030, 9, 1)), "ends_on", "end"),
        (dict(name="x", starts_on=date(2030, 9, 1), ends_on=date(2032, 9, 1)), "ends_on", "year"),
        (dict(name="x", starts_on=date(2030, 9, 1), ends_on=date(2031, 8, 31),
              terms=[services.TermDates(date(2030, 8, 1), date(2031, 1, 31))]),
         "term1_starts_on", "inside"),
        (dict(name="x", starts_on=date(2030, 9, 1), ends_on=date(2031, 8, 31),
              terms=[services.TermDates(date(2030, 9, 1), date(2031, 1, 31)),
                     services.TermDates(date(2031, 1, 20), date(2031, 7, 1))]),
         "term2_starts_on", "after the first"),
    ]
    for values, field, words in cases:
        values.setdefault("terms", [])
        with pytest.raises(services.ClassError) as error:
            services.save_year(county.a, None, **values)
        assert error.value.field == field, values
        assert words in str(error.value)
    # The same dates in another bureau are fine: years are per bureau.
    make_year(county.b)


def test_saving_a_year_twice_records_one_event(county, english):
    year = make_year(county.a)
    assert actions().count("school_year.created") == 1
    _same, changed = services.save_year(
        county.a, year, name=year.name, starts_on=year.starts_on, ends_on=year.ends_on, terms=TERMS
    )
    assert not changed
    _same, changed = services.save_year(
        county.a, year, name=year.name, starts_on=year.starts_on, ends_on=year.ends_on,
        terms=TERMS[:1],
    )
    assert changed
    assert [t.number for t in year.terms] == [1]
    assert actions().count("school_year.changed") == 1
    assert audit.verify() == []


def test_current_year_and_term_on_a_given_day(county, english):
    older = make_year(county.a, "2025-2026", 2025)
    year = make_year(county.a)
    assert current_year(county.a1, on=date(2026, 9, 1)) == year
    assert current_year(county.a, on=date(2026, 8, 31)) == older
    assert current_year(county.b1, on=date(2026, 10, 1)) is None  # county B has none
    first, second = year.terms
    assert current_term(county.a1, on=date(2026, 11, 11)) == first
    assert current_term(county.a1, on=date(2027, 2, 10)) == first  # winter holiday
    assert current_term(county.a1, on=date(2027, 3, 1)) == second
    assert current_term(county.a1, on=date(2027, 8, 1)) == second  # summer holiday
    assert current_term(county.a1, on=date(2025, 9, 1)) == older.terms[0]


def test_today_is_the_bureau_local_date(make, english):
    # UTC+14 and UTC-11 are 25 hours apart: their dates always differ.
    east = make.bureau("east", timezone="Pacific/Kiritimati")
    west = make.bureau("west", timezone="Pacific/Pago_Pago")
    today_east = local_date(east)
    assert local_date(west) < today_east
    for bureau in (east, west):
        services.save_year(
            bureau, None, name="y", starts_on=today_east,
            ends_on=today_east + timedelta(days=300), terms=[],
        )
    assert current_year(east) is not None
    assert current_year(west) is None


def test_grade_labels():
    assert [grade_label(g) for g in (1, 6, 7, 9, 10, 12)] == [
        "一年级", "六年级", "七年级", "九年级", "高一", "高三"
    ]
    assert grade_label(7, "en") == "Grade 7"


def test_class_rules(county, make, english):
    year = make_year(county.a)
    teacher = county.users["a1.teacher"]
    other = make.user("a1.teacher2", "teacher", county.a1)
    admin = county.users["a1.admin"]
    school_class, _ = services.save_class(
        county.a1, None, year=year, grade=7, name="1班", class_teacher=teacher,
        teachers=[other, teacher],
    )
    assert school_class.school_id == county.a1.id
    assert school_class.teachers == [other]  # the class teacher is not listed twice
    assert school_class.label() == "七年级1班"
    refusals = [
        (dict(grade=7, name="1班"), "name", "already has that class"),
        (dict(grade=13, name="2班"), "grade", "1 to 12"),
        (dict(grade=7, name=" "), "name", "name"),
        (dict(grade=7, name="2班", class_teacher=admin), "class_teacher", "not a teacher"),
        (dict(grade=7, name="2班", teachers=[county.users["a2.admin"]]), "teachers",
         "not a teacher"),
    ]
    for values, field, words in refusals:
        values.setdefault("class_teacher", None)
        with pytest.raises(services.ClassError) as error:
            services.save_class(county.a1, None, year=year, **values)
        assert error.value.field == field, values
        assert words in str(error.value)
    b_year = make_year(county.b)
    with pytest.raises(services.ClassError) as error:
        services.save_class(county.a1, None, year=b_year, grade=7, name="9班", class_teacher=None)
    assert error.value.field == "school_year"


def test_a_teacher_of_another_school_or_disabled_is_refused(county, english):
    year = make_year(county.a)
    teacher = county.users["a1.teacher"]
    with pytest.raises(services.ClassError):
        services.save_class(county.a2, None, year=year, grade=1, name="1班", class_teacher=teacher)
    teacher.active = False
    with pytest.raises(services.ClassError):
        services.save_class(county.a1, None, year=year, grade=1, name="1班", class_teacher=teacher)


def test_unchanged_class_records_nothing_and_changes_are_audited(county, make, english):
    year = make_year(county.a)
    teacher = county.users["a1.teacher"]
    other = make.user("a1.teacher2", "teacher", county.a1)
    school_class, _ = services.save_class(
        county.a1, None, year=year, grade=7, name="1班", class_teacher=teacher
    )
    _same, changed = services.save_class(
        county.a1, school_class, year=year, grade=7, name="1班", class_teacher=teacher
    )
    assert not changed
    _same, changed = services.save_class(
        county.a1, school_class, year=year, grade=7, name="1班", class_teacher=teacher,
        teachers=[other],
    )
    assert changed
    _same, changed = services.save_class(
        county.a1, school_class, year=year, grade=7, name="1班", class_teacher=None
    )
    assert changed
    assert school_class.teachers == []
    assert [a for a in actions() if a.startswith("class.")] == [
        "class.created", "class.changed", "class.changed"
    ]
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "class.changed").limit(1)
    )
    assert event.school_id == county.a1.id
    assert audit.verify() == []


def test_classes_taught_by(county, make, english):
    year = make_year(county.a)
    teacher = county.users["a1.teacher"]
    other = make.user("a1.teacher2", "teacher", county.a1)
    led, _ = services.save_class(county.a1, None, year=year, grade=7, name="1班",
                                 class_teacher=teacher)
    taught, _ = services.save_class(county.a1, None, year=year, grade=8, name="1班",
                                    class_teacher=other, teachers=[teacher])
    services.save_class(county.a1, None, year=year, grade=9, name="1班", class_teacher=other)
    assert classes_taught_by(teacher, county.a1, year) == [led, taught]
    assert [c.grade for c in services.classes_of(county.a1, year)] == [7, 8, 9]


def test_deleting_a_class_removes_its_teachers(county, make, english):
    year = make_year(county.a)
    other = make.user("a1.teacher2", "teacher", county.a1)
    school_class, _ = services.save_class(
        county.a1, None, year=year, grade=7, name="1班", class_teacher=None, teachers=[other]
    )
    services.delete_class(county.a1, school_class)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SchoolClass)) == 0
    assert "class.deleted" in actions()
