"""The year and term under way are read once per request, and afresh after any flush."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from kaimen.classes import SchoolYear, Term, current_term, current_year
from kaimen.extensions import db


def test_the_year_and_term_are_read_once_per_request_and_afresh_after_a_flush(app, county):
    day = date(2026, 10, 1)
    year = SchoolYear(bureau_id=county.a.id, name="2026-2027", starts_on=date(2026, 9, 1),
                      ends_on=date(2027, 7, 31))
    db.session.add(year)
    db.session.flush()
    db.session.add(Term(bureau_id=county.a.id, school_year_id=year.id, number=1,
                        starts_on=date(2026, 9, 1), ends_on=date(2027, 1, 20)))
    db.session.commit()
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_rest):
        if "FROM school_year" in statement or "FROM term" in statement:
            statements.append(statement)

    with app.test_request_context("/s/a1/desk/", method="POST"):  # a request that may write
        sa.event.listen(db.engine, "before_cursor_execute", note)
        try:
            assert current_year(county.a1, on=day).id == year.id  # a school asks its bureau's
            assert current_term(county.a1, on=day).number == 1
            asked = len(statements)
            assert asked >= 2  # the year (with its terms) and the term
            assert current_year(county.a2, on=day).id == year.id
            assert current_year(county.a, on=day).id == year.id
            assert current_term(county.a2, on=day).number == 1
            assert current_term(county.a, on=day).number == 1
            assert len(statements) == asked  # the same bureau and day: not asked again
            assert current_year(county.a, on=date(2027, 8, 1)) is None  # another day: asked
            assert len(statements) == asked + 1
            year.ends_on = date(2026, 9, 30)  # the year no longer covers the day
            db.session.flush()
            assert current_year(county.a, on=day) is None
            assert current_term(county.a, on=day) is None
            assert len(statements) == asked + 3
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", note)
    with app.test_request_context("/b/county-a/"):  # another request asks again
        db.session.rollback()
        assert current_year(county.a, on=day).id == year.id
