"""The class pages of a school and the school-year pages of a bureau: who may do what."""

from __future__ import annotations

import io
from html import unescape

import openpyxl
import pytest
import sqlalchemy as sa
from classes_helpers import make_year
from test_admin import assert_translated

from kaimen.audit import AuditEvent
from kaimen.auth.models import User
from kaimen.classes import SchoolClass, SchoolYear
from kaimen.extensions import db

EN = {"Accept-Language": "en"}


@pytest.fixture
def school(ctx, county, make):
    county.teacher2 = make.user("a1.teacher2", "teacher", county.a1, display_name="二老师")
    county.year = make_year(county.a)
    db.session.commit()
    return county


def classes() -> list[tuple]:
    db.session.expire_all()
    return [
        (c.grade, c.name, c.class_teacher_id, [t.username for t in c.teachers])
        for c in db.session.scalars(sa.select(SchoolClass).order_by(SchoolClass.id))
    ]


def actions(prefix: str) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.action.startswith(prefix))
        .order_by(AuditEvent.id)))


def class_form(county, **values):
    return {"school_year": str(county.year.id), "grade": "7", "name": "1班",
            "class_teacher": str(county.users["a1.teacher"].id),
            "teachers": [str(county.teacher2.id)], **values}


def test_school_admin_creates_edits_and_deletes_a_class(as_user, school):
    client = as_user("a1.admin")
    page = client.get("/s/a1/admin/classes/")
    assert page.status_code == 200
    assert_translated(page, "Classes")
    assert "/s/a1/admin/classes/new" in page.get_data(as_text=True)
    response = client.post("/s/a1/admin/classes/new", data=class_form(school))
    assert response.status_code == 302
    teacher = school.users["a1.teacher"].id
    assert classes() == [(7, "1班", teacher, ["a1.teacher2"])]
    class_id = db.session.scalar(sa.select(SchoolClass.id))
    listing = unescape(client.get("/s/a1/admin/classes/").get_data(as_text=True))
    assert "七年级1班" in listing
    assert "二老师" in listing
    response = client.post(f"/s/a1/admin/classes/{class_id}",
                           data=class_form(school, name="3班", teachers=[]))
    assert response.status_code == 302
    assert classes() == [(7, "3班", teacher, [])]
    response = client.post(f"/s/a1/admin/classes/{class_id}/delete")
    assert response.status_code == 302
    assert classes() == []
    assert actions("class.") == ["class.created", "class.changed", "class.deleted"]


def test_bad_class_input_is_answered_and_nothing_is_stored(as_user, school):
    client = as_user("a1.admin")
    client.post("/s/a1/admin/classes/new", data=class_form(school))
    before = classes()
    cases = [
        (class_form(school), "This school already has that class in that school year."),
        (class_form(school, name=""), "Name the class, such as 1班."),
        (class_form(school, name="2班", class_teacher=str(school.users["a1.admin"].id)),
         "Not a valid choice."),
        (class_form(school, name="2班", grade="13"), "Not a valid choice."),
    ]
    for data, message in cases:
        response = client.post("/s/a1/admin/classes/new", data=data, headers=EN)
        assert response.status_code == 200
        assert message in unescape(response.get_data(as_text=True)), data
        assert classes() == before


def test_bureau_admin_sees_classes_but_does_not_change_them(as_user, school):
    client = as_user("a.admin")
    page = client.get("/s/a1/admin/classes/")
    assert page.status_code == 200
    assert "/s/a1/admin/classes/new" not in page.get_data(as_text=True)
    assert client.get("/s/a1/admin/classes/new").status_code == 403
    assert client.post("/s/a1/admin/classes/new", data=class_form(school)).status_code == 403
    assert classes() == []


@pytest.mark.parametrize("username", ["a1.teacher", "a.supervisor", "a.leader", "a2.admin"])
def test_others_cannot_open_the_class_pages(as_user, school, username):
    client = as_user(username)
    for url in ("/s/a1/admin/classes/", "/s/a1/admin/classes/new",
                "/s/a1/admin/classes/import", "/s/a1/admin/classes/export.csv"):
        assert client.get(url).status_code in (403, 404), (username, url)


def test_navigation_links_to_classes_and_school_years(as_user, school):
    page = as_user("a1.admin").get("/s/a1/admin/classes/").get_data(as_text=True)
    assert 'href="/s/a1/admin/classes/"' in page
    page = as_user("a.admin").get("/b/county-a/").get_data(as_text=True)
    assert 'href="/b/county-a/admin/school-years/"' in page


def test_import_page_imports_a_gbk_csv_and_reports_bad_rows(as_user, school):
    client = as_user("a1.admin")
    good = "学年,年级,班级,班主任\r\n2026-2027,七年级,1班,a1.teacher\r\n".encode("gbk")
    response = client.post(
        "/s/a1/admin/classes/import",
        data={"school_year": str(school.year.id), "file": (io.BytesIO(good), "班级.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert classes() == [(7, "1班", school.users["a1.teacher"].id, [])]
    bad = "年级,班级,班主任\r\n7,2班,nobody\r\n高九,3班,\r\n".encode()
    response = client.post(
        "/s/a1/admin/classes/import",
        data={"school_year": str(school.year.id), "file": (io.BytesIO(bad), "c.csv")},
        content_type="multipart/form-data",
        headers=EN,
    )
    body = unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Nothing was imported" in body
    assert "Row 2" in body
    assert "nobody is not a teacher of this school." in body
    assert "Row 3" in body
    assert len(classes()) == 1


def test_export_downloads_the_import_format(as_user, school):
    client = as_user("a1.admin")
    client.post("/s/a1/admin/classes/new", data=class_form(school))
    response = client.get(f"/s/a1/admin/classes/export.xlsx?year={school.year.id}")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows == [["学年", "年级", "班级", "班主任", "任课教师"],
                    ["2026-2027", 7, "1班", "a1.teacher", "a1.teacher2"]]


# -- the bureau's school years ------------------------------------------------------------


def year_form(**values):
    return {"name": "", "starts_on": "2027-09-01", "ends_on": "2028-08-31",
            "term1_starts_on": "2027-09-01", "term1_ends_on": "2028-01-28",
            "term2_starts_on": "2028-02-21", "term2_ends_on": "2028-07-07", **values}


def years() -> list[tuple]:
    db.session.expire_all()
    return [
        (y.name, y.starts_on.isoformat(), [(t.number, t.starts_on.isoformat()) for t in y.terms])
        for y in db.session.scalars(sa.select(SchoolYear).order_by(SchoolYear.starts_on))
    ]


def test_bureau_admin_adds_and_edits_school_years(as_user, school):
    client = as_user("a.admin")
    page = client.get("/b/county-a/admin/school-years/")
    assert page.status_code == 200
    assert_translated(page, "School years and terms")
    response = client.post("/b/county-a/admin/school-years/", data=year_form())
    assert response.status_code == 302
    assert years()[-1] == ("2027-2028", "2027-09-01", [(1, "2027-09-01"), (2, "2028-02-21")])
    year_id = db.session.scalar(sa.select(SchoolYear.id).where(SchoolYear.name == "2027-2028"))
    page = client.get(f"/b/county-a/admin/school-years/{year_id}").get_data(as_text=True)
    assert 'value="2028-02-21"' in page
    response = client.post(f"/b/county-a/admin/school-years/{year_id}",
                           data=year_form(name="2027—2028学年", term2_starts_on="",
                                          term2_ends_on=""))
    assert response.status_code == 302
    assert years()[-1] == ("2027—2028学年", "2027-09-01", [(1, "2027-09-01")])
    assert actions("school_year.") == ["school_year.created"] * 2 + ["school_year.changed"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (dict(starts_on="2027-08-01"), "These dates overlap the school year 2026-2027."),
        (dict(ends_on="2027-08-31"), "The school year must end after it starts."),
        (dict(term1_starts_on="2027-08-01"), "A term must lie inside its school year."),
        (dict(term2_ends_on=""), "Give both dates of the term, or neither."),
        (dict(starts_on=""), "Enter a date."),
        (dict(term1_starts_on="", term1_ends_on=""), "Fill in the first term first."),
    ],
)
def test_bad_school_years_are_refused_with_a_message(as_user, school, values, message):
    before = years()
    response = as_user("a.admin").post("/b/county-a/admin/school-years/",
                                       data=year_form(**values), headers=EN)
    assert response.status_code == 200
    assert message in unescape(response.get_data(as_text=True))
    assert years() == before


@pytest.mark.parametrize("username", ["a.supervisor", "a.leader", "a1.admin", "b.admin"])
def test_only_the_bureau_admin_manages_school_years(as_user, school, username):
    client = as_user(username)
    year_id = school.year.id
    assert client.get("/b/county-a/admin/school-years/").status_code in (403, 404)
    response = client.post(f"/b/county-a/admin/school-years/{year_id}", data=year_form())
    assert response.status_code in (403, 404)
    assert len(years()) == 1


def test_a_class_teacher_who_left_is_named_when_the_class_is_saved(as_user, school):
    client = as_user("a1.admin")
    client.post("/s/a1/admin/classes/new", data=class_form(school, teachers=[]))
    class_id = db.session.scalar(sa.select(SchoolClass.id))
    teacher = db.session.get(User, school.users["a1.teacher"].id)
    teacher.active = False
    db.session.commit()
    before = classes()
    page = client.get(f"/s/a1/admin/classes/{class_id}").get_data(as_text=True)
    assert f'<option selected value="{teacher.id}">' in page
    response = client.post(f"/s/a1/admin/classes/{class_id}",
                           data=class_form(school, name="2班", teachers=[]), headers=EN)
    assert response.status_code == 200
    body = unescape(response.get_data(as_text=True))
    assert "A1.Teacher is not a teacher of this school." in body
    assert classes() == before
