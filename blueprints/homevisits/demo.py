"""Demo rows: invented students with guardians in each class, and a few visits.

The names are invented, as every name in a demo must be. Each school with
classes gets students, so the isolation harness finds a student and a visit of
every school.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from kaimen import Organisation, User, audit, db, holders, local_date
from kaimen.classes import classes_of, current_term, current_year

from .models import AT_SCHOOL, IN_PERSON, ONLINE, PHONE, Guardian, HomeVisit, Student

SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["子涵", "浩然", "雨桐", "梓萱", "宇轩", "欣怡", "俊杰", "思远"]
RELATIONS = [("母亲", "父亲"), ("父亲", "奶奶"), ("母亲", "外婆")]
SUMMARIES = [
    (PHONE, "study,", "电话沟通近期作业完成情况，家长表示会督促孩子按时完成。", ""),
    (IN_PERSON, "safety,family,",
     "上门了解家庭情况，父母在外务工，孩子由祖辈照看；讲解防溺水安全知识。",
     "希望学校多关注孩子的心理状况。"),
    (ONLINE, "behaviour,", "微信沟通课堂纪律问题，家长配合教育。", ""),
    (AT_SCHOOL, "policy,", "家长来校咨询营养餐政策，已解释清楚。", ""),
]


def _students(school: Organisation, class_index: int, school_class_id: int) -> list[Student]:
    students = []
    for n in range(4):
        number = f"D{school.id:03d}{class_index:02d}{n:02d}"
        name = SURNAMES[(class_index * 4 + n) % len(SURNAMES)] + GIVEN[n % len(GIVEN)]
        student = Student(school_id=school.id, number=number, name=name,
                          school_class_id=school_class_id)
        first, second = RELATIONS[n % len(RELATIONS)]
        student.guardians = [
            Guardian(school_id=school.id, position=0, name=name[0] + "家长", relation=first,
                     phone=f"139 0000 {n:02d}{class_index:02d}"),
            Guardian(school_id=school.id, position=1, name=name[0] + "家长", relation=second),
        ]
        db.session.add(student)
        students.append(student)
    return students


def _visits(school: Organisation, students: list[Student], teacher: User) -> None:
    term = current_term(school)
    today = local_date(school)
    start = term.starts_on if term is not None else today
    for index, student in enumerate(students[:3]):
        method, topics, summary, opinion = SUMMARIES[index % len(SUMMARIES)]
        day = min(today, start + timedelta(days=7 * (index + 1)))
        visit = HomeVisit(school_id=school.id, student=student, teacher=teacher,
                          school_class_id=student.school_class_id, visited_on=day,
                          method=method, topics="," + topics, summary=summary,
                          parents_opinion=opinion, participants="家长、学生本人")
        if index == 1:
            visit.follow_up = "两周后电话回访孩子情绪。"
            visit.follow_up_due = day + timedelta(days=14)
        db.session.add(visit)
        audit.record("homevisits.visit_logged", visit, school=school, actor=teacher,
                     data={"student": student.id, "method": method})


def load(bureau: Organisation, schools: list[Organisation], users: dict[str, User]) -> None:
    """Give each school with classes and no students yet a small invented roster and visits."""
    year = current_year(bureau)
    if year is None:
        return
    for school in schools:
        if db.session.scalar(sa.select(Student.id).where(Student.school_id == school.id)
                             .limit(1)) is not None:
            continue
        staff = [u for u in holders("homevisits.log", school, reach="own")
                 if u.username in users]
        for index, school_class in enumerate(classes_of(school, year)):
            students = _students(school, index, school_class.id)
            teacher = school_class.class_teacher or (staff[0] if staff else None)
            db.session.flush()
            if teacher is not None:
                _visits(school, students, teacher)
