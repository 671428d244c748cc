"""The school-scope policy reads ``kaimen.scope`` once per statement, with the old meaning.

Migration 0014 rewrote the policy with scalar subqueries so that PostgreSQL evaluates the
setting in an InitPlan instead of for every row (issue 14: a scoped count over 100,000
complaints). These tests hold it to the per-row expression it replaced: the same answer
for every kind of setting and row, the plan it was written for, a parallel plan in the
system scope, and a migration that swaps the two expressions back and forth.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from conftest import make_app
from kaimen_noticeboard import Notice

from kaimen import rls, tenancy
from kaimen.extensions import db

MIGRATION = Path(__file__).parents[1] / "migrations" / "versions" / "0015_rls_initplan.py"

# Every kind of value the setting can hold: unset (None), the markers, lists of ids, and
# malformed ones the app never writes (both expressions must refuse those alike).
SETTINGS = [None, "", "all", "3", "3,5", "5,3", "4", "3,3", "ALL", "all,3", " 3", "3, 5",
            "3,", ",", "x", "-3", "99999999999"]
SCHOOL_IDS = [None, 3, 4, 5]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"kaimen_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


migration = _load(MIGRATION)


@pytest.fixture
def pg(backend):
    if backend != "postgresql":
        pytest.skip("row-level security: SQLite has no such feature, only the ORM line")


@pytest.fixture
def raw_engine(pg, app) -> Iterator[sa.Engine]:
    """The app's role, without the app's events: the tests set ``kaimen.scope`` themselves."""
    with app.app_context():
        url = db.engine.url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def test_the_migration_carries_the_policy_of_kaimen_rls():
    assert migration.POLICY == rls.POLICY
    assert migration.SCOPE_CHECK == rls.SCOPE_CHECK
    assert migration.OLD_SCOPE_CHECK != rls.SCOPE_CHECK
    # the helper that puts new tables under the policy writes the new expression
    assert f"USING ({rls.SCOPE_CHECK}) WITH CHECK ({rls.SCOPE_CHECK})" in (
        rls.enable_statements("t")[-1])


def _evaluate(engine: sa.Engine, check: str, setting: str | None) -> tuple[str, Any]:
    """Return the policy expression's value for each school id, or the error it raises."""
    rows = ", ".join(f"({'NULL' if s is None else s}::int)" for s in SCHOOL_IDS)
    query = sa.text(f"SELECT {check} FROM (VALUES {rows}) AS v(school_id)")  # noqa: S608
    # a new connection each time: "never set" must really be never set (NULL, not '')
    with engine.connect() as connection:
        if setting is not None:
            connection.execute(sa.text("SELECT set_config('kaimen.scope', :v, true)"),
                               {"v": setting})
        try:
            return "value", list(connection.scalars(query))
        except sa.exc.DBAPIError as error:
            return "error", type(error.orig).__name__
        finally:
            connection.rollback()


def test_the_new_expression_answers_as_the_old_one_for_every_setting(raw_engine):
    answers = {}
    for setting in SETTINGS:
        old = _evaluate(raw_engine, migration.OLD_SCOPE_CHECK, setting)
        new = _evaluate(raw_engine, rls.SCOPE_CHECK, setting)
        assert new == old, f"kaimen.scope = {setting!r}: {old} before, {new} now"
        answers[setting] = new
    # and the answers are the ones the policy promises (the comparison can fail)
    assert answers[None] == answers[""] == ("value", [False] * 4)
    assert answers["all"] == ("value", [True] * 4)
    assert answers["3,5"] == answers["5,3"] == ("value", [None, True, False, True])
    assert answers["4"] == ("value", [None, False, True, False])
    assert answers["x"][0] == answers["3,"][0] == answers["ALL"][0] == "error"


@pytest.fixture
def notices(pg, ctx, county):
    for school in (county.a1, county.a2, county.b1):
        db.session.add(Notice(school_id=school.id, title=f"notice of {school.slug}"))
    db.session.commit()
    return county


def in_scope(app, school_ids):
    """Run in a fresh app context (a new session and transaction) scoped as a request is."""
    context = app.app_context()
    context.push()
    tenancy.set_scope(school_ids)
    return context


def _plan(statement: str) -> list[str]:
    return list(db.session.scalars(sa.text(f"EXPLAIN {statement}")))


def _filters(plan: list[str]) -> list[str]:
    return [line for line in plan if "Filter:" in line]


def test_a_scoped_count_reads_the_setting_once_in_an_init_plan(app, notices):
    context = in_scope(app, {notices.a1.id})
    try:
        count = sa.text("SELECT count(*) FROM testplugin_notice")
        assert db.session.scalar(count) == 1
        plan = _plan("SELECT count(*) FROM testplugin_notice")
        assert any("InitPlan" in line for line in plan), plan
        assert _filters(plan), plan
        assert not any("current_setting" in line for line in _filters(plan)), plan
        # the old expression, on a copy of the table, puts the setting in the row filter
        db.session.execute(sa.text(
            "CREATE TEMPORARY TABLE old_notice AS SELECT school_id FROM testplugin_notice"))
        db.session.execute(sa.text("ALTER TABLE old_notice ENABLE ROW LEVEL SECURITY"))
        db.session.execute(sa.text("ALTER TABLE old_notice FORCE ROW LEVEL SECURITY"))
        db.session.execute(sa.text(
            f"CREATE POLICY old ON old_notice USING ({migration.OLD_SCOPE_CHECK})"))
        old_plan = _plan("SELECT count(*) FROM old_notice")
        assert any("current_setting" in line for line in _filters(old_plan)), old_plan
        assert db.session.scalar(sa.text("SELECT count(*) FROM old_notice")) == 1
    finally:
        db.session.rollback()
        context.pop()


def test_a_parallel_plan_in_the_system_scope_counts_every_school(app, notices):
    """A Gather evaluates every InitPlan before it starts, the array's too: not for 'all'."""
    context = in_scope(app, {notices.a1.id})
    try:
        for name in ("parallel_setup_cost", "parallel_tuple_cost",
                     "min_parallel_table_scan_size"):
            db.session.execute(sa.text(f"SET LOCAL {name} = 0"))
        db.session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 2"))
        count = "SELECT count(*) FROM testplugin_notice"
        with tenancy.system_scope():
            plan = _plan(count)
            assert any("Gather" in line for line in plan), plan
            assert db.session.scalar(sa.text(count)) == 3
        assert any("Gather" in line for line in _plan(count))
        assert db.session.scalar(sa.text(count)) == 1
    finally:
        db.session.rollback()
        context.pop()


def _policies(connection: sa.Connection) -> dict[str, tuple[Any, ...]]:
    """Every policy of the school scope, by table, as PostgreSQL stores it."""
    rows = connection.execute(sa.text(
        "SELECT tablename, permissive, roles, cmd, qual, with_check FROM pg_policies "
        "WHERE policyname = :policy ORDER BY tablename"), {"policy": rls.POLICY})
    return {table: (permissive, tuple(roles), cmd, qual, check)
            for table, permissive, roles, cmd, qual, check in rows}


def _normalised(connection: sa.Connection, check: str) -> str:
    """The expression as pg_policies shows it (its own spelling), from a scratch table."""
    connection.execute(sa.text("CREATE TEMPORARY TABLE scratch (school_id integer)"))
    connection.execute(sa.text(f"CREATE POLICY {rls.POLICY} ON scratch USING ({check})"))
    shown = connection.scalar(sa.text(
        "SELECT qual FROM pg_policies WHERE tablename = 'scratch'"))
    connection.execute(sa.text("DROP TABLE scratch"))
    return str(shown)


def test_the_migration_swaps_the_expressions_both_ways_on_every_policed_table(
        pg, fresh_database):
    app = make_app(fresh_database.url("postgresql"))
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0014_umbrella_indexes")
            with db.engine.begin() as connection:
                old = _normalised(connection, migration.OLD_SCOPE_CHECK)
                new = _normalised(connection, rls.SCOPE_CHECK)
                assert old != new
                # A database built by the migrations as they first shipped, plus a table a
                # plugin put under the policy itself (rls.enable, as the tests' plugin does).
                connection.execute(sa.text(
                    "CREATE TABLE plugin_extra (id integer PRIMARY KEY, school_id integer)"))
                rls.enable(connection, ["plugin_extra"])
                for table in rls.policed_tables(connection):
                    connection.execute(sa.text(f'DROP POLICY {rls.POLICY} ON "{table}"'))
                    connection.execute(sa.text(
                        f'CREATE POLICY {rls.POLICY} ON "{table}" USING '
                        f"({migration.OLD_SCOPE_CHECK}) WITH CHECK ({migration.OLD_SCOPE_CHECK})"))
                before = _policies(connection)
                tables = rls.policed_tables(connection)
            assert {"plugin_extra", "complaint", "plan"} <= tables
            assert set(before) == tables
            assert {policy[3:] for policy in before.values()} == {(old, old)}

            flask_migrate.upgrade(revision="heads")
            with db.engine.connect() as connection:
                after = _policies(connection)
                assert rls.policed_tables(connection) == tables  # still enabled and forced
            assert set(after) == tables
            assert {policy[3:] for policy in after.values()} == {(new, new)}
            assert {policy[:3] for policy in after.values()} == {
                policy[:3] for policy in before.values()}  # permissive, to PUBLIC, for ALL

            flask_migrate.downgrade(revision="0014_umbrella_indexes")
            with db.engine.connect() as connection:
                assert _policies(connection) == before
                assert rls.policed_tables(connection) == tables
            flask_migrate.upgrade(revision="heads")
            with db.engine.connect() as connection:
                assert _policies(connection) == after
                assert rls.policed_tables(connection) == tables
        finally:
            db.engine.dispose()
