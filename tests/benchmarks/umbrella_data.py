"""Build a county of many schools for the umbrella view, by bulk inserts (``make bench``, tests).

Every per-school row goes in through SQLAlchemy Core ``insert()`` with a list of dicts,
in batches: no tenants loader, no ORM flush per row, and one password hash for every
user (computed once, or given). The county gets a school year with its terms, a
supervisor, a linked leader and a packaging unit, a rectification campaign, and per
school: complaint cases, pledges (some signed), home visits of its students, liaison
visits, a plan with ledger items and open days with registrations and feedback.

Used by ``tests/benchmarks/umbrella.py`` at full volumes and by
``tests/core/test_umbrella.py`` with few rows per school.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from blueprints.complaints.models import Complaint
from blueprints.homevisits.models import HomeVisit, Student
from blueprints.liaison.models import LiaisonVisit, LinkAssignment, PackageAssignment
from blueprints.opendays.models import OpenDay, OpenDayFeedback, Registration
from blueprints.plans.models import Campaign, Measure, Plan, Problem
from blueprints.pledges.models import Pledge, PledgeSignature
from kaimen.auth.models import RoleGrant, User
from kaimen.classes.models import SchoolClass, SchoolYear, Term
from kaimen.extensions import db
from kaimen.orgs import BUREAU, SCHOOL, Organisation, Unit
from kaimen.timeutil import local_date

BATCH = 20_000
STATUSES = ("received", "accepted", "verifying", "handling", "answered", "closed", "answered",
            "closed", "closed", "not_accepted")
CATEGORIES = ("arbitrary_fees", "paid_tutoring", "materials", "teaching", "safety", "other")
METHODS = ("in_person", "phone", "online", "at_school")
ITEMS = ("not_started", "in_progress", "basically_done", "done")


@dataclass(frozen=True)
class Volumes:
    """Rows per school."""

    cases: int = 100
    pledges: int = 50
    home_visits: int = 500
    liaison_visits: int = 500
    measures: int = 12
    open_days: int = 4
    registrations: int = 10  # per open day
    teachers: int = 5  # who sign the ethics pledges
    students: int = 100  # home visits are spread over them


FULL = Volumes()
FEW = Volumes(cases=3, pledges=2, home_visits=2, liaison_visits=1, measures=2, open_days=1,
              registrations=2, teachers=1, students=2)


def batches(rows: Sequence[dict[str, Any]] | Iterator[dict[str, Any]]) -> Iterator[list[dict]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def insert(model: Any, rows: Any) -> int:
    """Insert ``rows`` (dicts) into ``model``'s table in batches; return how many."""
    count = 0
    table = model.__table__
    for batch in batches(rows):
        db.session.execute(sa.insert(table), batch)
        count += len(batch)
    return count


def ids_by(model: Any, key: Any, school_ids: list[int]) -> dict[Any, list[int]]:
    """Return ``{key value: [ids]}`` of ``model``'s rows in ``school_ids`` (a Core read)."""
    out: dict[Any, list[int]] = {}
    for chunk in range(0, len(school_ids), 500):
        part = school_ids[chunk:chunk + 500]
        for row_id, value in db.session.execute(
                sa.select(model.id, key).where(model.school_id.in_(part)).order_by(model.id)):
            out.setdefault(value, []).append(row_id)
    return out


def build_county(slug: str, schools: int, volumes: Volumes = FULL, *,
                 password_hash: str) -> dict[str, Any]:
    """Create bureau ``slug`` with ``schools`` schools and their rows; return what was made.

    Run inside an app context in the system scope. Commits once at the end. The
    supervisor is ``<slug>.supervisor`` with ``password_hash``.
    """
    now = datetime.now(UTC).replace(tzinfo=None)
    bureau = Organisation(kind=BUREAU, slug=slug, name=f"{slug} 教育局")
    db.session.add(bureau)
    db.session.flush()
    today = local_date(bureau)
    start = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    year = SchoolYear(bureau_id=bureau.id, name=f"{start.year}-{start.year + 1}",
                      starts_on=start, ends_on=date(start.year + 1, 8, 31))
    db.session.add(year)
    db.session.flush()
    spring = date(start.year + 1, 2, 20)
    terms = [Term(bureau_id=bureau.id, school_year_id=year.id, number=1, starts_on=start,
                  ends_on=date(start.year + 1, 1, 20)),
             Term(bureau_id=bureau.id, school_year_id=year.id, number=2, starts_on=spring,
                  ends_on=date(start.year + 1, 7, 10))]
    db.session.add_all(terms)
    term = terms[1] if today >= spring else terms[0]
    unit = Unit(bureau_id=bureau.id, slug=f"{slug}-unit", name="基础教育股", kind="department")
    db.session.add(unit)
    supervisor = User(username=f"{slug}.supervisor", display_name="督导",
                      password_hash=password_hash)
    leader = User(username=f"{slug}.leader", display_name="联系领导",
                  password_hash=password_hash)
    db.session.add_all([supervisor, leader])
    db.session.flush()
    db.session.add_all([RoleGrant(user_id=supervisor.id, org_id=bureau.id, role="supervisor"),
                        RoleGrant(user_id=leader.id, org_id=bureau.id, role="leader")])
    campaign = Campaign(bureau_id=bureau.id, title="作风整改", starts_on=start,
                        mobilise_until=start + timedelta(days=30),
                        inspect_until=start + timedelta(days=90),
                        rectify_until=start + timedelta(days=300),
                        review_until=start + timedelta(days=360))
    db.session.add(campaign)
    db.session.flush()

    insert(Organisation, ({"kind": SCHOOL, "slug": f"{slug}-{i:04d}", "name": f"{slug}学校{i}",
                           "parent_id": bureau.id, "timezone": "Asia/Shanghai",
                           "default_locale": "zh_Hans", "created_at": now}
                          for i in range(schools)))
    school_ids = list(db.session.scalars(
        sa.select(Organisation.id).where(Organisation.parent_id == bureau.id)
        .order_by(Organisation.id)))
    counts: dict[str, int] = {"schools": len(school_ids)}
    v = volumes
    days = max(1, (today - start).days)
    term_days = max(1, (today - term.starts_on).days)

    school_year = f"{start.year}-{start.year + 1}"
    counts["pledges"] = insert(Pledge, (
        {"school_id": school_id, "title": f"承诺{n}", "text": "我们承诺", "answerable": "校长",
         "school_year": school_year if n % 5 else f"{start.year - 1}-{start.year}",
         "status": "withdrawn" if n % 17 == 16 else "active",
         "kind": "ethics" if n < 2 else "service", "created_at": now}
        for school_id in school_ids for n in range(v.pledges)))
    pledge_ids = ids_by(Pledge, Pledge.school_id, school_ids)
    counts["cases"] = insert(Complaint, (
        _case(school_id, n, start + timedelta(days=(n * 7 + i) % days), now,
              f"pledge:{pledge_ids[school_id][n % v.pledges]}" if n % 25 == 24 else None)
        for i, school_id in enumerate(school_ids) for n in range(v.cases)))
    teachers = insert(User, ({"username": f"{slug}.t{i}.{n}", "display_name": f"教师{n}",
                              "password_hash": password_hash, "active": True,
                              "session_version": 1, "created_at": now}
                             for i in range(len(school_ids)) for n in range(v.teachers)))
    teacher_ids = list(db.session.scalars(
        sa.select(User.id).where(User.username.like(f"{slug}.t%")).order_by(User.id)))
    assert len(teacher_ids) == teachers
    insert(RoleGrant, ({"user_id": teacher_ids[i * v.teachers + n], "org_id": school_id,
                        "role": "teacher"}
                       for i, school_id in enumerate(school_ids) for n in range(v.teachers)))
    counts["signatures"] = insert(PledgeSignature, (
        {"school_id": school_id, "pledge_id": pledge_id,
         "user_id": teacher_ids[i * v.teachers + n], "signed_at": now}
        for i, school_id in enumerate(school_ids)
        for pledge_id in pledge_ids.get(school_id, [])[:2]
        for n in range(v.teachers) if n % 3 != 2))

    insert(SchoolClass, ({"school_id": school_id, "school_year_id": year.id,
                          "grade": 1 + (i % 3) * 3 + c, "name": f"{c + 1}班"}
                         for i, school_id in enumerate(school_ids) for c in range(2)))
    classes = ids_by(SchoolClass, SchoolClass.school_id, school_ids)
    counts["students"] = insert(Student, (
        {"school_id": school_id, "number": f"S{n:05d}", "name": f"学生{n}",
         "school_class_id": classes[school_id][n % 2]}
        for school_id in school_ids for n in range(v.students)))
    students = ids_by(Student, Student.school_id, school_ids)
    counts["home_visits"] = insert(HomeVisit, (
        {"school_id": school_id, "student_id": students[school_id][n % v.students],
         "school_class_id": classes[school_id][n % 2],
         "teacher_id": teacher_ids[i * v.teachers + n % v.teachers],
         "visited_on": term.starts_on + timedelta(days=n % term_days),
         "method": METHODS[n % 4], "topics": ",study,", "summary": "基准",
         "follow_up_due": today - timedelta(days=3) if n % 25 == 0 else None,
         "created_at": now, "updated_at": now}
        for i, school_id in enumerate(school_ids) for n in range(v.home_visits)))
    counts["liaison_visits"] = insert(LiaisonVisit, (
        {"school_id": school_id, "visitor_id": leader.id,
         "visited_on": start + timedelta(days=(n * 3 + i) % days), "purposes": "guide",
         "met": "校长", "findings": "", "created_at": now}
        for i, school_id in enumerate(school_ids) for n in range(v.liaison_visits)))
    insert(LinkAssignment, ({"school_id": school_id, "school_year_id": year.id,
                             "user_id": leader.id, "created_at": now}
                            for school_id in school_ids[: len(school_ids) // 2]))
    insert(PackageAssignment, ({"school_id": school_id, "school_year_id": year.id,
                                "unit_id": unit.id, "created_at": now}
                               for school_id in school_ids))

    insert(Plan, ({"school_id": school_id, "campaign_id": campaign.id,
                   "status": "approved" if i % 4 else "submitted", "changed_at": now}
                  for i, school_id in enumerate(school_ids)))
    plans = {school: ids[0] for school, ids in ids_by(Plan, Plan.school_id, school_ids).items()}
    insert(Problem, ({"school_id": school_id, "plan_id": plans[school_id], "category": "fees",
                      "description": "问题", "cases": [], "other_opinions": ""}
                     for school_id in school_ids))
    problems = ids_by(Problem, Problem.school_id, school_ids)
    counts["measures"] = insert(Measure, (
        {"school_id": school_id, "plan_id": plans[school_id],
         "problem_id": problems[school_id][0], "action": f"措施{n}",
         "deadline": today + timedelta(days=(n % 5) * 10 - 20), "status": ITEMS[n % 4],
         "signed_off_at": now if n % 4 == 3 else None}
        for school_id in school_ids for n in range(v.measures)))

    held = datetime.combine(today - timedelta(days=10), time(1))
    insert(OpenDay, ({"school_id": school_id, "kind": "open_day", "title": f"开放日{n}",
                      "place": "礼堂", "starts_at": held - timedelta(days=n),
                      "ends_at": held - timedelta(days=n) + timedelta(hours=3),
                      "status": "scheduled", "max_attendees": 2, "created_at": now,
                      "updated_at": now, "sequence": 0}
                     for school_id in school_ids for n in range(v.open_days)))
    days_by_school = ids_by(OpenDay, OpenDay.school_id, school_ids)
    counts["registrations"] = insert(Registration, (
        {"school_id": school_id, "open_day_id": day_id, "name": f"家长{n}",
         "phone": "13800000000", "attendees": 1 + n % 2,
         "status": "confirmed" if n % 5 else "waitlisted",
         "checked_in_at": now if n % 3 else None, "created_at": now}
        for school_id, day_ids in days_by_school.items() for day_id in day_ids
        for n in range(v.registrations)))
    registrations = ids_by(Registration, Registration.school_id, school_ids)
    insert(OpenDayFeedback, ({"school_id": school_id, "registration_id": reg_id,
                              "satisfaction": 3 + n % 3, "comment": "", "created_at": now}
                             for school_id, reg_ids in registrations.items()
                             for n, reg_id in enumerate(reg_ids) if n % 2 == 0))
    db.session.commit()
    return counts


def _case(school_id: int, n: int, received: date, now: datetime,
          reference: str | None) -> dict[str, Any]:
    status = STATUSES[n % len(STATUSES)]
    answered = status in ("answered", "closed")
    days = 3 + (n * 5) % 20
    return {
        "school_id": school_id, "kind": "complaint", "category": CATEGORIES[n % 6],
        "channel": "online" if n % 3 else "hotline", "subject": f"意见{n}",
        "description": "情况说明", "anonymous": True, "about_leadership": n % 20 == 19,
        "reference": reference, "status": status, "handled_by_bureau": False,
        "created_at": now, "received_on": received, "ack_due": received + timedelta(days=2),
        "answer_due": received + timedelta(days=15),
        "answered_at": now if answered else None,
        "answered_on_time": (days <= 15) if answered else None,
        "days_to_answer": days if answered else None,
        "satisfied": (n % 4 != 0) if status == "closed" else None,
        "flagged_for_bureau": False, "urged_count": 0, "content_digest": "",
    }
