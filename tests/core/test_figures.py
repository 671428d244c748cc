"""Kept umbrella figures: counted once, counted again only for the schools that changed."""

from __future__ import annotations

import json
import pickle

import sqlalchemy as sa
from conftest import login

from blueprints.complaints.services import Submission, file_case
from kaimen import figures, plugins, tenancy, touch_schools
from kaimen.auth.models import User
from kaimen.extensions import db
from kaimen.orgs import Organisation


def received(county, table_of):
    """Return (a1's, a2's) "Received" figures from the complaint box's umbrella table."""
    table = table_of()
    return table.rows[county.a1.id][0], table.rows[county.a2.id][0]


class Counted:
    """The schools each complaint-box count asked about, read off the SQL it sent."""

    def __init__(self) -> None:
        self.asked: list[set[int]] = []

    def __call__(self, _conn, _cursor, statement, parameters, *_args) -> None:
        if "FROM complaint" in statement and "GROUP BY complaint.school_id" in statement:
            values = parameters.values() if isinstance(parameters, dict) else parameters
            asked: set[int] = set()
            for value in values:  # ``among`` sends the ids as one list (JSON text on SQLite)
                if isinstance(value, str) and value.startswith("["):
                    value = json.loads(value)
                if isinstance(value, int):
                    value = [value]
                if isinstance(value, list):
                    asked.update(v for v in value if isinstance(v, int))
            self.asked.append(asked)


def umbrella(app, county, counted):
    """Ask for the complaint box's table as the umbrella view does, in a request of its own."""
    with app.test_request_context("/b/county-a/"):
        from kaimen import tenancy
        with tenancy.system_scope():
            bureau = db.session.get(Organisation, county.a.id)
            schools = [db.session.get(Organisation, i) for i in (county.a1.id, county.a2.id)]
            sa.event.listen(db.engine, "before_cursor_execute", counted)
            try:
                tables = plugins.bureau_metrics(bureau, schools)
            finally:
                sa.event.remove(db.engine, "before_cursor_execute", counted)
    return next(t for t in tables if str(t.title).startswith(("Opinion box", "意见箱")))


def file(school):
    file_case(school, Submission(kind="suggestion", category="other", subject="Fees",
                                 description="Please explain the fees."))
    db.session.commit()


def test_figures_are_counted_again_only_for_the_school_that_changed(app, county, ctx):
    file(county.a1)
    counted = Counted()

    def table():
        return umbrella(app, county, counted)

    assert received(county, table) == (1, 0)
    assert len(counted.asked) == 2  # the counts and the days-to-answer histogram
    assert {county.a1.id, county.a2.id} <= counted.asked[0]

    counted.asked.clear()
    assert received(county, table) == (1, 0)
    assert counted.asked == []  # nothing changed: nothing counted

    file(county.a2)  # a parent files in a2: only a2 is counted again
    assert received(county, table) == (1, 1)
    assert counted.asked
    assert all(county.a2.id in ids and county.a1.id not in ids
                                 for ids in counted.asked)


def test_a_change_to_the_bureau_counts_every_school_again(app, county, ctx):
    file(county.a1)
    counted = Counted()
    umbrella(app, county, counted)
    counted.asked.clear()
    county.a.name = "改名的教育局"  # a bureau's row may show in every school's figures
    db.session.commit()
    umbrella(app, county, counted)
    assert counted.asked
    assert {county.a1.id, county.a2.id} <= counted.asked[0]


def test_a_write_the_flush_does_not_see_is_touched_by_hand(app, county, ctx):
    file(county.a1)
    counted = Counted()
    umbrella(app, county, counted)
    counted.asked.clear()
    touch_schools([county.a2.id])
    db.session.commit()
    umbrella(app, county, counted)
    assert counted.asked
    assert all(county.a2.id in ids and county.a1.id not in ids
                                 for ids in counted.asked)


def test_a_rolled_back_write_changes_no_figure_and_a_new_database_no_key(app, county, ctx):
    counted = Counted()
    assert umbrella(app, county, counted).rows[county.a1.id][0] == 0
    file_case(county.a1, Submission(kind="suggestion", category="other", subject="x",
                                    description="y"))
    db.session.rollback()
    counted.asked.clear()
    assert umbrella(app, county, counted).rows[county.a1.id][0] == 0
    assert counted.asked == []
    with app.test_request_context("/"):
        known = figures.versions([county.a1.id])
        # the epoch row (migration 0016) joins every key; without the row it reads 0
        assert figures.EPOCH in known


def test_no_plugin_changes_the_figures_it_is_handed(app, county, client):
    """Each worker keeps the entries as objects (a key's entry never changes): the table,
    trends, export and rollup of every plugin read them and leave them as they were."""
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    with app.app_context(), tenancy.system_scope():
        hook = app.extensions["kaimen"].manager.hook
        hook.kaimen_demo_data(bureau=db.session.get(Organisation, county.a.id),
                              schools=[db.session.get(Organisation, county.a1.id),
                                       db.session.get(Organisation, county.a2.id)],
                              users=users)
        db.session.commit()
    login(client, "a.supervisor")
    assert client.get("/b/county-a/").status_code == 200
    kept = dict(figures._worker)
    answering = {name for _until, entry in kept.values() for name in entry}
    assert len(answering) == 6, answering  # every plugin keeps figures for these schools
    # The shared cache holds each entry as it was stored, pickled before any table was built.
    stored = {key: figures.cache.get(key) for key in kept}
    assert all(entry == stored[key] for key, (_until, entry) in kept.items())
    before = {key: pickle.dumps(entry) for key, (_until, entry) in kept.items()}
    for path in ("/b/county-a/", "/b/county-a/?sort=3&dir=desc", "/b/county-a/export?format=csv",
                 "/b/county-a/export?format=xlsx", "/b/city/"):
        assert client.get(path).status_code in (200, 404), path
    for key, (_until, entry) in kept.items():
        assert figures._worker[key][1] is entry  # the same object served every view
        assert pickle.dumps(entry) == before[key], key


def test_a_school_is_counted_again_under_a_scope_narrowed_to_it(app, county, ctx):
    """The schools whose figures are kept are taken out of the scope while a plugin counts
    the others: the counted ones read the same, the others' rows are out of its reach (on
    PostgreSQL row-level security too, for SQL the ORM does not see), and the request's
    scope is whole again afterwards."""
    from blueprints.complaints.models import Complaint
    from kaimen import hookimpl

    file(county.a1)
    file(county.a2)
    seen: list[tuple[frozenset[int] | None, dict[int, int], int]] = []

    class Probe:
        @staticmethod
        @hookimpl
        def kaimen_school_figures(bureau, schools):
            orm = dict(db.session.execute(sa.select(Complaint.school_id, sa.func.count())
                                          .group_by(Complaint.school_id)).all())
            raw = db.session.scalar(sa.text("SELECT count(*) FROM complaint"))
            seen.append((tenancy.current_scope(), orm, raw))
            return {s.id: {"cases": orm.get(s.id, 0)} for s in schools}

    manager = plugins.state().manager
    manager.register(Probe, name="scope-probe")
    try:
        with app.test_request_context("/b/county-a/"):
            scope = frozenset({county.a.id, county.a1.id, county.a2.id})
            tenancy.set_scope(scope)
            bureau = db.session.get(Organisation, county.a.id)
            schools = [db.session.get(Organisation, i) for i in (county.a1.id, county.a2.id)]
            first = figures.gather(bureau, schools, {"scope-probe": schools})
            touch_schools([county.a2.id])
            db.session.commit()
            tenancy.set_scope(scope)
            again = figures.gather(bureau, schools, {"scope-probe": schools})
            assert tenancy.current_scope() == scope
    finally:
        manager.unregister(Probe)
    assert first["scope-probe"] == again["scope-probe"] == {
        county.a1.id: {"cases": 1}, county.a2.id: {"cases": 1}}
    (whole, whole_orm, _), (narrow, narrow_orm, narrow_raw) = seen
    assert whole == scope
    assert whole_orm == {county.a1.id: 1, county.a2.id: 1}
    assert narrow == {county.a.id, county.a2.id}
    assert narrow_orm == {county.a2.id: 1}
    if db.engine.dialect.name == "postgresql":
        assert narrow_raw == 1  # the policy, not only the ORM's criteria
