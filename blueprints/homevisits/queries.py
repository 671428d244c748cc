"""The book's reads: my classes, coverage, the school's list, follow-ups, the class book.

Each page runs a fixed number of queries whatever the number of students and
visits: figures are grouped queries, never one query per class or student.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from kaimen import Organisation, all_schools, db
from kaimen.classes import SchoolClass, SchoolYear, Term

from .models import IN_PERSON, HomeVisit, Student


@dataclass
class Coverage:
    """Students on the roster, those reached at least once, and those reached in person."""

    students: int = 0
    reached: int = 0
    in_person: int = 0

    @property
    def reached_share(self) -> float:
        return self.reached / self.students if self.students else 0.0

    @property
    def in_person_share(self) -> float:
        return self.in_person / self.students if self.students else 0.0

    def add(self, other: Coverage) -> None:
        self.students += other.students
        self.reached += other.reached
        self.in_person += other.in_person


@dataclass
class StudentLine:
    """A student of "my classes", with the last contact and whether reached this term."""

    student: Student
    last_on: date | None
    last_method: str | None
    reached: bool


@dataclass
class ClassLines:
    school_class: SchoolClass
    lines: list[StudentLine] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)


def term_window(term: Term | None, today: date) -> tuple[date, date] | None:
    """Return the days of ``term`` that count (none after today), or None without a term."""
    if term is None:
        return None
    return term.starts_on, min(term.ends_on, today)


def _reached(window: tuple[date, date], in_person: bool = False) -> Any:
    """Return 1 for a student visited within ``window`` (in person), else 0: a SUM term.

    A correlated EXISTS per student walks the (student, date) index, so the cost grows
    with the students, not with the visits.
    """
    # The student's school too, so the (school, student, date) index answers it: without
    # it the bureau's query scanned every visit once per student.
    visited = sa.select(HomeVisit.id).where(HomeVisit.school_id == Student.school_id,
                                            HomeVisit.student_id == Student.id,
                                            HomeVisit.visited_on.between(*window))
    if in_person:
        visited = visited.where(HomeVisit.method == IN_PERSON)
    return sa.func.coalesce(sa.func.sum(sa.case((visited.exists(), 1), else_=0)), 0)


def coverage_by(key: Any, where: list[Any], window: tuple[date, date] | None,
                crossing: bool = False) -> dict[int, Coverage]:
    """Return coverage grouped by ``key`` (a Student or SchoolClass column) in one query."""
    columns: list[Any] = ([sa.literal(0), sa.literal(0)] if window is None
                          else [_reached(window), _reached(window, in_person=True)])
    query = (sa.select(key, sa.func.count(Student.id), *columns)
             .join(SchoolClass, SchoolClass.id == Student.school_class_id)
             .where(*where).group_by(key))
    if crossing:
        query = all_schools(query)
    return {k: Coverage(int(n), int(r), int(p)) for k, n, r, p in db.session.execute(query)}


def class_coverage(school: Organisation, classes: list[SchoolClass],
                   window: tuple[date, date] | None) -> tuple[dict[int, Coverage], Coverage]:
    """Return coverage per class of ``classes`` and for all of them together."""
    per_class = coverage_by(Student.school_class_id,
                            [Student.school_id == school.id,
                             Student.school_class_id.in_([c.id for c in classes])], window)
    total = Coverage()
    for value in per_class.values():
        total.add(value)
    return per_class, total


def school_coverage(schools: list[Organisation], year: SchoolYear | None,
                    window: tuple[date, date] | None) -> dict[int, Coverage]:
    """Return coverage per school for the bureau: one query for every school."""
    if year is None:
        return {}
    return coverage_by(Student.school_id,
                       [Student.school_id.in_([s.id for s in schools]),
                        SchoolClass.school_year_id == year.id], window, crossing=True)


def my_classes(school: Organisation, classes: list[SchoolClass],
               window: tuple[date, date] | None) -> list[ClassLines]:
    """Return each class with its students, not yet reached this term first."""
    ids = [c.id for c in classes]
    students = list(db.session.scalars(
        sa.select(Student).where(Student.school_id == school.id,
                                 Student.school_class_id.in_(ids))
        .order_by(Student.number)
    ))
    ranked = (sa.select(HomeVisit.student_id, HomeVisit.visited_on, HomeVisit.method,
                        sa.func.row_number().over(
                            partition_by=HomeVisit.student_id,
                            order_by=(HomeVisit.visited_on.desc(), HomeVisit.id.desc()),
                        ).label("rank"))
              .where(HomeVisit.student_id.in_(
                  sa.select(Student.id).where(Student.school_class_id.in_(ids))))
              .subquery())
    last = {row.student_id: row for row in db.session.execute(
        sa.select(ranked.c.student_id, ranked.c.visited_on, ranked.c.method)
        .where(ranked.c.rank == 1))}
    reached: set[int] = set()
    if window is not None:
        reached = set(db.session.scalars(
            sa.select(HomeVisit.student_id).where(
                HomeVisit.student_id.in_(sa.select(Student.id)
                                         .where(Student.school_class_id.in_(ids))),
                HomeVisit.visited_on.between(*window)).distinct()))
    in_person = _in_person(ids, window)
    by_class = {c.id: ClassLines(c) for c in classes}
    for student in students:
        row = last.get(student.id)
        entry = by_class[student.school_class_id or 0]
        entry.lines.append(StudentLine(student, row.visited_on if row else None,
                                       row.method if row else None, student.id in reached))
        entry.coverage.students += 1
        entry.coverage.reached += student.id in reached
        entry.coverage.in_person += student.id in in_person
    for entry in by_class.values():
        entry.lines.sort(key=lambda line: (line.reached, line.student.number))
    return list(by_class.values())


def _in_person(class_ids: list[int], window: tuple[date, date] | None) -> set[int]:
    if window is None:
        return set()
    return set(db.session.scalars(
        sa.select(HomeVisit.student_id).where(
            HomeVisit.student_id.in_(sa.select(Student.id)
                                     .where(Student.school_class_id.in_(class_ids))),
            HomeVisit.visited_on.between(*window), HomeVisit.method == IN_PERSON).distinct()))


def find_students(school: Organisation, class_ids: list[int] | None, text: str,
                  limit: int = 20) -> list[Student]:
    """Return students whose name or number contains ``text`` (within ``class_ids``)."""
    query = sa.select(Student).where(Student.school_id == school.id)
    if class_ids is not None:
        query = query.where(Student.school_class_id.in_(class_ids))
    text = text.strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(Student.name.like(pattern, escape="\\"),
                                   Student.number.like(pattern, escape="\\")))
    return list(db.session.scalars(query.order_by(Student.number).limit(limit)))


@dataclass
class VisitFilters:
    """The school list's filters; None means any."""

    school_class_id: int | None = None
    teacher_id: int | None = None
    method: str | None = None
    topic: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    follow_up: str | None = None  # "due" (open) or "overdue"


def visits(school: Organisation, filters: VisitFilters, today: date,
           teacher_id: int | None = None) -> Any:
    """Return the statement of the school's visits under ``filters``, newest first."""
    query = sa.select(HomeVisit).where(HomeVisit.school_id == school.id)
    if teacher_id is not None:
        query = query.where(HomeVisit.teacher_id == teacher_id)
    if filters.school_class_id is not None:
        query = query.where(HomeVisit.student_id.in_(
            sa.select(Student.id).where(Student.school_class_id == filters.school_class_id)))
    if filters.teacher_id is not None:
        query = query.where(HomeVisit.teacher_id == filters.teacher_id)
    if filters.method:
        query = query.where(HomeVisit.method == filters.method)
    if filters.topic:
        query = query.where(HomeVisit.topics.like(f"%,{filters.topic},%"))
    if filters.date_from:
        query = query.where(HomeVisit.visited_on >= filters.date_from)
    if filters.date_to:
        query = query.where(HomeVisit.visited_on <= filters.date_to)
    if filters.follow_up in ("due", "overdue"):
        query = query.where(HomeVisit.follow_up_due.is_not(None),
                            HomeVisit.follow_up_done_on.is_(None))
        if filters.follow_up == "overdue":
            query = query.where(HomeVisit.follow_up_due < today)
    return query.order_by(HomeVisit.visited_on.desc(), HomeVisit.id.desc())


def class_book(school: Organisation,
               school_class: SchoolClass) -> list[tuple[Student, list[HomeVisit]]]:
    """Return the class's book: each student with their visits in this class, oldest first."""
    visits_in_class = list(db.session.scalars(
        sa.select(HomeVisit).where(HomeVisit.school_id == school.id,
                                   HomeVisit.school_class_id == school_class.id)
        .order_by(HomeVisit.visited_on, HomeVisit.id)))
    ids = {v.student_id for v in visits_in_class}
    students = list(db.session.scalars(
        sa.select(Student).options(selectinload(Student.guardians))
        .where(Student.school_id == school.id,
               sa.or_(Student.school_class_id == school_class.id, Student.id.in_(ids)))
        .order_by(Student.number)))
    by_student: dict[int, list[HomeVisit]] = {s.id: [] for s in students}
    for visit in visits_in_class:
        by_student.setdefault(visit.student_id, []).append(visit)
    return [(s, by_student[s.id]) for s in students]


def student_visits(student: Student) -> list[HomeVisit]:
    """Return every visit of ``student``, in any class, newest first."""
    return list(db.session.scalars(
        sa.select(HomeVisit).where(HomeVisit.student_id == student.id)
        .order_by(HomeVisit.visited_on.desc(), HomeVisit.id.desc())))


def bureau_figures(schools: list[Organisation], window: tuple[date, date] | None,
                   today: date) -> tuple[dict[int, int], dict[int, int]]:
    """Return ``({school id: visits this term}, {school id: overdue follow-ups})``, 2 queries."""
    ids = [s.id for s in schools]
    visits_count: dict[int, int] = {}
    if window is not None:
        visits_count = {k: int(v) for k, v in db.session.execute(all_schools(
            sa.select(HomeVisit.school_id, sa.func.count(HomeVisit.id))
            .where(HomeVisit.school_id.in_(ids), HomeVisit.visited_on.between(*window))
            .group_by(HomeVisit.school_id)))}
    overdue = {k: int(v) for k, v in db.session.execute(all_schools(
        sa.select(HomeVisit.school_id, sa.func.count(HomeVisit.id))
        .where(HomeVisit.school_id.in_(ids), HomeVisit.follow_up_due < today,
               HomeVisit.follow_up_done_on.is_(None))
        .group_by(HomeVisit.school_id)))}
    return visits_count, overdue


def follow_up_counts(school: Organisation, today: date) -> tuple[int, int]:
    """Return the school's open follow-ups and, of them, the overdue ones: one query."""
    row = db.session.execute(
        sa.select(sa.func.count(HomeVisit.id),
                  sa.func.coalesce(sa.func.sum(sa.case((HomeVisit.follow_up_due < today, 1),
                                                       else_=0)), 0))
        .where(HomeVisit.school_id == school.id, HomeVisit.follow_up_due.is_not(None),
               HomeVisit.follow_up_done_on.is_(None))).one()
    return int(row[0]), int(row[1])


def count_students(school: Organisation) -> int:
    return int(db.session.scalar(sa.select(sa.func.count(Student.id))
                                 .where(Student.school_id == school.id)) or 0)
