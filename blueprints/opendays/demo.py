"""Demo open days for each school: coming events with registrations, one already held."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from kaimen import Organisation, db, local_date

from . import services, times
from .models import (
    CONFIRMED,
    OPEN_DAY,
    OPEN_WEEK,
    PARENT_SCHOOL,
    OpenDay,
    OpenDayFeedback,
    Registration,
)

PARENTS = [("王丽", "13807150001", "三年级2班", 2), ("陈建国", "13907150002", "五年级1班", 1),
           ("刘芳", "0715-6312345", "一年级3班", 2), ("张伟", "15807150004", "三年级1班", 1)]


def _at(school: Organisation, days: int, hour: int, minute: int = 0) -> datetime:
    local = datetime.combine(local_date(school) + timedelta(days=days), time(hour, minute))
    moment = times.to_utc(local, school)
    assert moment is not None
    return moment


def _events(school: Organisation) -> list[dict[str, Any]]:
    return [
        {"kind": OPEN_DAY, "title": "校园开放日：走进课堂",
         "description": "家长随堂听课、参观食堂和功能室，与校长面对面交流。请凭登记码入校。",
         "place": "教学楼一楼大厅集合", "grades": "一年级,二年级,三年级",
         "starts_at": _at(school, 10, 8, 30), "ends_at": _at(school, 10, 11, 30),
         "capacity": 40, "max_attendees": 2, "registration_closes_at": _at(school, 9, 18),
         "feedback_enabled": True},
        {"kind": OPEN_WEEK, "title": "教学开放周",
         "description": "开放周期间每天上午第二、三节课向家长开放，欢迎预约听课。",
         "place": "各班教室", "grades": "",
         "starts_at": _at(school, 21, 8), "ends_at": _at(school, 25, 12),
         "capacity": 120, "max_attendees": 2, "feedback_enabled": True},
        {"kind": PARENT_SCHOOL, "title": "家长学校：如何陪伴孩子做作业",
         "description": "心理健康教师主讲，讲座后答疑。", "place": "学校报告厅",
         "grades": "四年级,五年级,六年级",
         "starts_at": _at(school, -7, 19), "ends_at": _at(school, -7, 20, 30),
         "capacity": 80, "max_attendees": 2, "feedback_enabled": True},
    ]


def _held_session(event: OpenDay) -> None:
    """Give an event that is over its registrations, check-ins and feedback."""
    for index, (name, phone, child_class, attendees) in enumerate(PARENTS):
        registration = Registration(
            school_id=event.school_id, open_day=event, name=name, phone=phone,
            child_class=child_class, attendees=attendees, status=CONFIRMED,
            created_at=event.starts_at - timedelta(days=3),
            checked_in_at=event.starts_at if index < 3 else None,
        )
        db.session.add(registration)
        if index < 2:
            db.session.add(OpenDayFeedback(school_id=event.school_id, registration=registration,
                                           satisfaction=5 - index, comment="讲得很实用。"))


def load(bureau: Organisation, schools: list[Organisation], users: dict[str, Any]) -> None:
    """Create demo events for each school that has none yet."""
    for school in schools:
        if db.session.scalar(sa.select(OpenDay.id).where(OpenDay.school_id == school.id).limit(1)):
            continue
        admin = next((u for u in users.values() if any(
            g.org_id == school.id and g.role == "school_admin" for g in u.grants)), None)
        coming, _week, held = (services.create_event(school, values, admin)
                               for values in _events(school))
        for name, phone, child_class, attendees in PARENTS[:2]:
            services.register(coming, services.Applicant(
                name=name, phone=phone, child_class=child_class, attendees=attendees))
        _held_session(held)
        db.session.flush()
