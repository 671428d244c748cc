"""The book's rules without a request: dates, reach, the 7-day amend-only rule, audit payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.homevisits import services
from blueprints.homevisits.models import HomeVisit, HomeVisitAmendment
from kaimen.audit import AuditEvent
from kaimen.extensions import db

from .conftest import visit_values


def test_a_teacher_logs_a_visit_of_their_class_and_it_is_audited_by_id(hv):
    student = hv.students["S001"]
    visit = services.log_visit(hv.county.a1, hv.teacher, student,
                               visit_values(hv.today, "in_person", summary="谈了学习"))
    db.session.commit()
    assert visit.school_class_id == hv.class1.id
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "homevisits.visit_logged"))
    assert event.data == {"student": student.id, "method": "in_person"}
    assert "林" not in str(event.data)


def test_future_dates_and_dates_before_the_school_year_are_refused(hv):
    student = hv.students["S001"]
    with pytest.raises(services.VisitError, match="future") as future:
        services.log_visit(hv.county.a1, hv.teacher, student,
                           visit_values(hv.today + timedelta(days=1)))
    assert future.value.field == "visited_on"
    with pytest.raises(services.VisitError, match="before the school year"):
        services.log_visit(hv.county.a1, hv.teacher, student,
                           visit_values(hv.year.starts_on - timedelta(days=1)))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(HomeVisit.id))) == 0


def test_a_student_outside_the_teachers_classes_is_refused(hv):
    with pytest.raises(services.NotYourStudent):
        services.log_visit(hv.county.a1, hv.teacher, hv.students["S003"],
                           visit_values(hv.today))


def test_the_school_admin_reaches_every_student(hv):
    admin = hv.county.users["a1.admin"]
    visit = services.log_visit(hv.county.a1, admin, hv.students["S003"], visit_values(hv.today))
    assert visit.teacher_id == admin.id


def test_methods_topics_and_follow_ups_are_checked(hv):
    student = hv.students["S001"]
    for values, field in [
        (visit_values(hv.today, "letter"), "method"),
        (visit_values(hv.today, topics=[]), "topics"),
        (visit_values(hv.today, topics=["gossip"]), "topics"),
        (visit_values(hv.today, follow_up_due=hv.today), "follow_up"),
        (visit_values(hv.today, follow_up="回访", follow_up_due=hv.today - timedelta(days=1)),
         "follow_up_due"),
    ]:
        with pytest.raises(services.VisitError) as refused:
            services.log_visit(hv.county.a1, hv.teacher, student, values)
        assert refused.value.field == field


def test_within_7_days_the_author_edits_and_the_audit_names_the_fields(hv):
    visit = services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                               visit_values(hv.today, summary="初稿"))
    db.session.commit()
    changed = services.change_visit(hv.county.a1, visit, hv.teacher,
                                    visit_values(hv.today, summary="改稿"))
    assert changed == ["summary"]
    db.session.commit()  # events are chained into the log at commit
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "homevisits.visit_edited"))
    assert event.data == {"fields": ["summary"]}
    assert services.change_visit(hv.county.a1, visit, hv.teacher,
                                 visit_values(hv.today, summary="改稿")) == []


def test_after_7_days_a_change_is_an_amendment_with_a_reason(hv):
    visit = services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                               visit_values(hv.today, summary="原文"))
    visit.created_at -= timedelta(days=7)
    db.session.commit()
    new = visit_values(hv.today, "in_person", summary="更正")
    with pytest.raises(services.VisitError, match="why") as refused:
        services.change_visit(hv.county.a1, visit, hv.teacher, new)
    assert refused.value.field == "reason"
    db.session.rollback()
    changed = services.change_visit(hv.county.a1, visit, hv.teacher, new, reason="记错了方式")
    db.session.commit()
    assert changed == ["method", "summary"]
    amendment = db.session.scalar(sa.select(HomeVisitAmendment))
    assert amendment.changes == {"method": ["phone", "in_person"], "summary": ["原文", "更正"]}
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "homevisits.visit_amended"))
    assert event.data == {"fields": ["method", "summary"], "amendment": amendment.id}


def test_only_the_author_changes_a_visit(hv):
    visit = services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                               visit_values(hv.today))
    with pytest.raises(services.VisitError, match="Only the teacher"):
        services.change_visit(hv.county.a1, visit, hv.county.users["a1.admin"],
                              visit_values(hv.today, summary="x"))


def test_a_follow_up_is_marked_done_once(hv):
    visit = services.log_visit(hv.county.a1, hv.teacher, hv.students["S001"],
                               visit_values(hv.today, follow_up="回访", follow_up_due=hv.today))
    services.complete_follow_up(hv.county.a1, visit, hv.teacher)
    assert visit.follow_up_done_on == hv.today
    with pytest.raises(services.VisitError):
        services.complete_follow_up(hv.county.a1, visit, hv.teacher)
