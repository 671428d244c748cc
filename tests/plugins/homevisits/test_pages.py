"""The book's pages: a teacher's quick entry and classes, the admin's list, coverage and book."""

from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa
from conftest import login
from openpyxl import load_workbook

from blueprints.homevisits import services
from blueprints.homevisits.models import HomeVisit
from kaimen.extensions import db

from .conftest import visit_values

BASE = "/s/a1/homevisits"


def test_a_teacher_sees_their_classes_with_unreached_students_first(client, hv):
    services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"], visit_values(hv.today))
    db.session.commit()
    login(client, "a1.teacher")
    page = client.get(f"{BASE}/").get_data(as_text=True)
    assert "Grade 7 1班" in page
    assert "2班" not in page
    assert page.index("周子轩") < page.index("林小雨")  # not reached first
    assert 'data-coverage="1/2"' in page


def test_the_quick_entry_logs_a_visit(client, hv):
    login(client, "a1.teacher")
    found = client.get(f"{BASE}/new", query_string={"q": "S00"}).get_data(as_text=True)
    assert "林小雨" in found
    assert "吴思远" not in found
    student = hv.students["S001"]
    response = client.post(f"{BASE}/students/{student.id}/visits/new", data={
        "visited_on": hv.today.isoformat(), "method": "phone", "topics": ["study", "safety"],
        "summary": "谈学习", "parents_opinion": "希望减少作业",
    })
    assert response.status_code == 302
    visit = db.session.scalar(sa.select(HomeVisit))
    assert visit.topic_keys == ["study", "safety"]
    assert client.get(response.headers["Location"]).status_code == 200


def test_a_future_date_is_refused_with_a_message_and_nothing_stored(client, hv):
    login(client, "a1.teacher")
    student = hv.students["S001"]
    response = client.post(f"{BASE}/students/{student.id}/visits/new", data={
        "visited_on": (hv.today + timedelta(days=3)).isoformat(), "method": "phone",
        "topics": ["study"],
    })
    assert response.status_code == 200
    assert "The date of the visit is in the future." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(HomeVisit.id))) == 0


def test_a_student_outside_the_teachers_classes_is_refused(client, hv):
    login(client, "a1.teacher")
    student = hv.students["S003"]
    assert client.get(f"{BASE}/students/{student.id}/visits/new").status_code == 403
    response = client.post(f"{BASE}/students/{student.id}/visits/new", data={
        "visited_on": hv.today.isoformat(), "method": "phone", "topics": ["study"]})
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(HomeVisit.id))) == 0


def test_an_old_entry_is_amended_with_a_reason_and_shows_its_amendment(client, hv):
    visit = services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                               visit_values(hv.today, summary="原文"))
    visit.created_at -= timedelta(days=8)
    db.session.commit()
    login(client, "a1.teacher")
    form = {"visited_on": hv.today.isoformat(), "method": "phone", "topics": ["study"],
            "summary": "更正"}
    refused = client.post(f"{BASE}/visits/{visit.id}/edit", data=form)
    assert "Say why the entry is amended." in refused.get_data(as_text=True)
    done = client.post(f"{BASE}/visits/{visit.id}/edit", data=form | {"reason": "笔误"})
    assert done.status_code == 302
    page = client.get(f"{BASE}/visits/{visit.id}").get_data(as_text=True)
    assert "Amendments" in page
    assert "笔误" in page
    assert "原文" in page


def test_another_teachers_entry_is_not_shown(client, hv):
    visit = services.log_visit(hv.county.a1, hv.other, hv.students["S003"],
                               visit_values(hv.today))
    db.session.commit()
    login(client, "a1.teacher")
    assert client.get(f"{BASE}/visits/{visit.id}").status_code == 404


def test_the_admin_filters_exports_and_prints_the_book(client, hv):
    services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                       visit_values(hv.today, "in_person", topics=["safety"],
                                    follow_up="回访", follow_up_due=hv.today))
    services.log_visit(hv.county.a1, hv.other, hv.students["S003"], visit_values(hv.today))
    db.session.commit()
    login(client, "a1.admin")
    coverage = client.get(f"{BASE}/coverage").get_data(as_text=True)
    assert "50%" in coverage  # 2 of 4 reached
    listed = client.get(f"{BASE}/visits", query_string={"topic": "safety"}).get_data(as_text=True)
    assert "林小雨" in listed
    assert "吴思远" not in listed
    by_teacher = client.get(f"{BASE}/visits", query_string={"teacher": hv.other.id})
    assert "吴思远" in by_teacher.get_data(as_text=True)
    due = client.get(f"{BASE}/visits", query_string={"follow_up": "due"}).get_data(as_text=True)
    assert "林小雨" in due
    assert "吴思远" not in due
    export = client.get(f"{BASE}/visits/export.xlsx", query_string={"method": "in_person"})
    sheet = load_workbook(io.BytesIO(export.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2
    assert "林小雨" in rows[1]
    book = client.get(f"{BASE}/classes/{hv.class1.id}/book").get_data(as_text=True)
    assert book.count('class="book-student"') == 2
    assert "book-print.css" in book


def test_the_roster_page_imports_a_file_or_reports_its_rows(client, hv):
    login(client, "a1.admin")
    bad = "学号,姓名,年级,班级\nS009,新同学,七年级,9班\n".encode("gbk")
    response = client.post(f"{BASE}/roster", data={"file": (io.BytesIO(bad), "r.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert "Nothing was imported" in page
    assert "Row 2" in page
    good = "学号,姓名,年级,班级\nS009,新同学,七年级,2班\n".encode("gbk")
    response = client.post(f"{BASE}/roster", data={"file": (io.BytesIO(good), "r.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302


def test_the_bureau_page_shows_rates_and_no_names(client, hv):
    services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"], visit_values(hv.today))
    db.session.commit()
    login(client, "a.supervisor")
    page = client.get("/b/county-a/homevisits/").get_data(as_text=True)
    assert "25%" in page
    assert "林小雨" not in page
    assert "13800000001" not in page
    umbrella = client.get("/b/county-a/").get_data(as_text=True)
    assert "Home visits this term" in umbrella
    assert client.get("/s/a1/homevisits/coverage").status_code in (403, 404)


def test_a_parents_opinion_is_handed_to_the_opinion_box_through_its_hook(client, hv):
    from blueprints.complaints.models import Complaint

    visit = services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                               visit_values(hv.today, parents_opinion="校车太挤"))
    db.session.commit()
    login(client, "a1.teacher")
    page = client.get(f"{BASE}/visits/{visit.id}").get_data(as_text=True)
    assert "Send the opinion to the opinion box" in page
    assert client.post(f"{BASE}/visits/{visit.id}/opinion").status_code == 302
    case = db.session.scalar(sa.select(Complaint))
    assert case.channel == "home_visit"
    assert case.description == "校车太挤"
    assert "林小雨" not in case.subject
    db.session.refresh(visit)
    assert visit.opinion_case_url == f"/s/a1/complaints/cases/{case.id}"
    assert f'href="{visit.opinion_case_url}"' in client.get(
        f"{BASE}/visits/{visit.id}").get_data(as_text=True)
    client.post(f"{BASE}/visits/{visit.id}/opinion")
    assert db.session.scalar(sa.select(sa.func.count(Complaint.id))) == 1  # once only


def test_without_the_opinion_box_the_opinion_stays_in_the_book(client, hv, app):
    from kaimen.plugins import PluginSetting

    db.session.add(PluginSetting(org_id=hv.county.a1.id, plugin="complaints", enabled=False))
    visit = services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                               visit_values(hv.today, parents_opinion="意见"))
    db.session.commit()
    login(client, "a1.teacher")
    page = client.get(f"{BASE}/visits/{visit.id}").get_data(as_text=True)
    assert "Send the opinion to the opinion box" not in page
    client.post(f"{BASE}/visits/{visit.id}/opinion")
    db.session.refresh(visit)
    assert visit.opinion_case_url == ""
