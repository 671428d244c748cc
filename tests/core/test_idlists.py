"""``among(column, ids)``: the same rows as ``IN``, with the ids as one parameter."""

from __future__ import annotations

import sqlalchemy as sa

from kaimen import among, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation
from kaimen.pagecache import SchoolVersion


class Statements:
    """The SQL and parameters sent while it listens."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    def __call__(self, _conn, _cursor, statement, parameters, *_args) -> None:
        self.sent.append((statement, parameters))

    def __enter__(self) -> Statements:
        sa.event.listen(db.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_exc) -> None:
        sa.event.remove(db.engine, "before_cursor_execute", self)


def _ids(rows) -> list[int]:
    return sorted(rows)


def test_among_finds_what_in_finds_for_any_number_of_ids(ctx, county):
    everyone = _ids(db.session.scalars(sa.select(Organisation.id)))
    for wanted in ([], [county.a1.id], [county.a1.id, county.b1.id], everyone,
                   [county.a2.id, 999_999], list(range(-5, 0))):
        expected = _ids(db.session.scalars(
            sa.select(Organisation.id).where(Organisation.id.in_(wanted))))
        found = _ids(db.session.scalars(
            sa.select(Organisation.id).where(among(Organisation.id, wanted))))
        assert found == expected, wanted
        outside = _ids(db.session.scalars(
            sa.select(Organisation.id).where(~among(Organisation.id, wanted))))
        assert outside == [i for i in everyone if i not in expected], wanted


def test_among_sends_one_parameter_and_the_same_statement_whatever_the_number(ctx, county):
    many = [county.a1.id, county.a2.id, county.b1.id, *range(10_000, 11_000)]
    with Statements() as statements:
        for wanted in (many, many[:2]):
            db.session.execute(sa.select(SchoolVersion.school_id)
                               .where(among(SchoolVersion.school_id, wanted))).all()
    (first, first_parameters), (second, _) = [
        (text, parameters) for text, parameters in statements.sent if "school_version" in text]
    assert first == second  # one text, compiled once, whatever the list
    values = (first_parameters.values() if isinstance(first_parameters, dict)
              else first_parameters)
    assert len(values) == 1


def test_the_scope_of_many_schools_is_one_parameter_and_changes_with_the_request(ctx, county):
    """The tenancy criteria keep one SQL text for every scope; each request's schools are
    its own (a cached statement must never carry an earlier request's schools)."""
    from blueprints.complaints.models import Complaint
    from blueprints.complaints.services import Submission, file_case

    for school in (county.a1, county.a2, county.b1):
        file_case(school, Submission(kind="suggestion", category="other", subject="Fees",
                                     description="Please explain the fees."))
    db.session.commit()
    seen = {}
    for scope in ({county.a1.id, county.a2.id}, {county.b1.id}, {county.a2.id, county.b1.id},
                  {county.a1.id, county.a2.id}):
        with ctx.test_request_context("/"):
            tenancy.set_scope(scope)
            with Statements() as statements:
                found = set(db.session.scalars(sa.select(Complaint.school_id)))
            db.session.rollback()
        assert found == scope
        statement, parameters = statements.sent[-1]
        values = parameters.values() if isinstance(parameters, dict) else parameters
        assert len(values) == 1, statement
        seen.setdefault(len(scope) > 1, set()).add(statement)
    assert len(seen[True]) == 1  # one text for every scope of several schools
