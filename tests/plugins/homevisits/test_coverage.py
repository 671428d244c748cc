"""Coverage math against a plain recount (property-based), and fixed query counts per page."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from conftest import login
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.homevisits import metrics, queries
from blueprints.homevisits.models import METHODS, HomeVisit, Student
from kaimen import memo
from kaimen.extensions import db

METHOD_KEYS = sorted(METHODS)

# A roster: each student's class (0 or 1); visits: (student index, day offset, method).
rosters = st.lists(st.integers(0, 1), min_size=0, max_size=12)
visit_lists = st.lists(st.tuples(st.integers(0, 11), st.integers(-40, 40),
                                 st.sampled_from(METHOD_KEYS)), max_size=30)


def recount(classes: list[int], visits: list[tuple[int, int, str]], window_days: int
            ) -> dict[int, tuple[int, int, int]]:
    """Count students, reached and reached-in-person per class, the plain way."""
    result = {}
    for class_index in (0, 1):
        members = [i for i, c in enumerate(classes) if c == class_index]
        within = [(i, m) for i, offset, m in visits
                  if i < len(classes) and 0 <= offset <= window_days]
        reached = {i for i, _m in within if i in members}
        in_person = {i for i, m in within if i in members and m == "in_person"}
        result[class_index] = (len(members), len(reached), len(in_person))
    return result


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(classes=rosters, visits=visit_lists)
def test_coverage_matches_a_plain_recount(hv, classes, visits):
    school, teacher = hv.county.a1, hv.teacher
    window = (hv.today - timedelta(days=20), hv.today)
    savepoint = db.session.begin_nested()
    try:
        class_ids = [hv.class1.id, hv.class2.id]
        for s in hv.students.values():
            s.school_class_id = None  # only the generated students count here
        students = [Student(school_id=school.id, number=f"P{n:03d}", name=f"学生{n}",
                            school_class_id=class_ids[c]) for n, c in enumerate(classes)]
        db.session.add_all(students)
        db.session.flush()
        for index, offset, method in visits:
            if index < len(students):
                db.session.add(HomeVisit(
                    school_id=school.id, student_id=students[index].id, teacher_id=teacher.id,
                    visited_on=window[0] + timedelta(days=offset), method=method,
                    topics=",study,"))
        db.session.flush()
        expected = recount(classes, visits, 20)
        per_class, total = queries.class_coverage(school, [hv.class1, hv.class2], window)
        for index, class_id in enumerate(class_ids):
            got = per_class.get(class_id, queries.Coverage())
            assert (got.students, got.reached, got.in_person) == expected[index]
        assert total.students == len(classes)
        assert total.reached == sum(e[1] for e in expected.values())
        by_school = queries.school_coverage([school, hv.county.a2], hv.year, window)
        assert by_school.get(school.id, queries.Coverage()) == total
        mine = {entry.school_class.id: entry.coverage
                for entry in queries.my_classes(school, [hv.class1, hv.class2], window)}
        for class_id in class_ids:
            assert mine[class_id] == per_class.get(class_id, queries.Coverage())
    finally:
        savepoint.rollback()


def test_shares_and_rates():
    coverage = queries.Coverage(students=8, reached=6, in_person=2)
    assert (coverage.reached_share, coverage.in_person_share) == (0.75, 0.25)
    assert queries.Coverage().reached_share == 0.0
    assert metrics.percent(0.755) == "76%"


class StatementCounter:
    """Count the SQL statements the app's engine runs."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, _conn, _cursor, statement, *_args):
        if "set_config" not in statement:
            self.count += 1


def grow(hv, per_class: int, visits_each: int) -> None:
    """Add ``per_class`` students to each class of a1, each with ``visits_each`` visits."""
    for school_class in (hv.class1, hv.class2):
        for n in range(per_class):
            student = Student(school_id=hv.county.a1.id, number=f"G{school_class.id}-{n}",
                              name=f"学生{n}", school_class_id=school_class.id)
            db.session.add(student)
            db.session.flush()
            for v in range(visits_each):
                db.session.add(HomeVisit(
                    school_id=hv.county.a1.id, student_id=student.id, teacher_id=hv.teacher.id,
                    visited_on=hv.today - timedelta(days=v), method=METHOD_KEYS[v % 4],
                    topics=",study,", school_class_id=school_class.id))
    db.session.commit()


def statements(app, client, url: str) -> int:
    memo.forget()  # what the page costs with nothing kept from the request before
    with StatementCounter(db.engine) as counter:
        assert client.get(url).status_code == 200
    return counter.count


def test_my_classes_coverage_and_bureau_pages_run_a_fixed_number_of_queries(app, hv, client):
    hv.class2.class_teacher_id = hv.teacher.id
    db.session.commit()
    pages = {"a1.teacher": "/s/a1/homevisits/", "a1.admin": "/s/a1/homevisits/coverage",
             "a.supervisor": "/b/county-a/homevisits/"}
    clients = {}
    for username in pages:
        clients[username] = app.test_client()
        login(clients[username], username)
    small = {u: statements(app, clients[u], url) for u, url in pages.items()}
    grow(hv, per_class=25, visits_each=3)
    large = {u: statements(app, clients[u], url) for u, url in pages.items()}
    assert small == large
    assert max(large.values()) <= 25, large
