"""Give the demo's 实验小学 a home-visit book at scale for ``make bench``; print the import time.

3,000 students in 60 classes of 50 (imported from one CSV file in one transaction,
the timed figure), a teacher ``bench.teacher`` with 3 of those classes, and 30,000
visits this term. Run with the setup environment after the demo county is loaded.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta

import sqlalchemy as sa

from blueprints.homevisits import roster
from blueprints.homevisits.models import METHODS, HomeVisit, Student
from kaimen import create_app, local_date, tenancy
from kaimen.auth.models import RoleGrant, User
from kaimen.classes import current_term, current_year
from kaimen.classes import services as classes
from kaimen.extensions import db
from kaimen.orgs import Organisation

SCHOOL, TEACHER = "shiyan-xiaoxue", "bench.teacher"
CLASSES, PER_CLASS, VISITS_EACH = 60, 50, 10


def main() -> None:
    app = create_app()
    with app.app_context(), tenancy.system_scope():
        school = db.session.scalar(sa.select(Organisation).where(Organisation.slug == SCHOOL))
        year = current_year(school)
        if school is None or year is None:
            sys.exit(f"no school {SCHOOL} with a school year under way")
        teacher = User(username=TEACHER, display_name="基准教师")
        teacher.set_password(os.environ["KAIMEN_DEMO_PASSWORD"])
        teacher.grants.append(RoleGrant(role="teacher", org_id=school.id))
        db.session.add(teacher)
        db.session.flush()
        for n in range(CLASSES):
            classes.save_class(school, None, year=year, grade=4 + n // 20, name=f"{n % 20 + 1}班",
                               class_teacher=teacher if n < 3 else None)
        db.session.commit()
        lines = ["学号,姓名,年级,班级,监护人1,关系1,电话1"] + [
            f"B{n:05d},学生{n},{4 + n // (20 * PER_CLASS)},{(n // PER_CLASS) % 20 + 1}班,"
            f"家长{n},母亲,1380000{n % 10000:04d}" for n in range(CLASSES * PER_CLASS)]
        started = time.perf_counter()
        report = roster.import_roster(school, year, "bench.csv", "\n".join(lines).encode("gbk"))
        db.session.commit()
        seconds = time.perf_counter() - started
        if not report.ok:
            sys.exit(f"roster import failed: {report.problems[:3]}")
        term, today = current_term(school), local_date(school)
        start = term.starts_on if term is not None else year.starts_on
        days = max(1, (today - start).days)
        ids = list(db.session.scalars(sa.select(Student.id).where(
            Student.school_id == school.id, Student.number.like("B%"))))
        methods = sorted(METHODS)
        rows = [{"school_id": school.id, "student_id": student_id, "teacher_id": teacher.id,
                 "visited_on": start + timedelta(days=(i * 7 + v * 3) % days),
                 "method": methods[(i + v) % 4], "topics": ",study,", "summary": "基准"}
                for i, student_id in enumerate(ids) for v in range(VISITS_EACH)]
        db.session.execute(sa.insert(HomeVisit), rows)
        db.session.commit()
        print(json.dumps({"roster_import_s": round(seconds, 2), "students": len(ids),  # noqa: T201
                          "visits": len(rows)}))


if __name__ == "__main__":
    main()
