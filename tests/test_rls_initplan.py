"""The school-scope policy reads ``kaimen.scope`` once per statement, with the old meaning.

Migration 0015 rewrote the policy with scalar subqueries so that PostgreSQL evaluates the
setting in an InitPlan instead of for every row (issue 14: a scoped count over 100,000
complaints); migration 0017 wrote its list of schools as an IN-subquery, which PostgreSQL
hashes, instead of ``= ANY`` of an array, which it searched for every row (a count of
500,000 rows in a 1,000-school scope). These tests hold each to the expression it
replaced: the same answer for every kind of setting and row, the plan it was written for,
a parallel plan in the system scope, and a migration that swaps the two expressions back
and forth.
"""

from __future__ import annotations

import importlib.util
import itertools
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

VERSIONS = Path(__file__).parents[1] / "migrations" / "versions"

# Every kind of value the setting can hold: unset (None), the markers, lists of ids, and
# malformed ones the app never writes (both expressions must refuse those alike).
# A county's scope: 1,000 ids, in order or not, with and without the row's school.
COUNTY = [*range(1, 1001)]
SETTINGS = [None, "", "all", "3", "3,5", "5,3", "4", "3,3", "ALL", "all,3", " 3", "3, 5",
            "3,", ",", "x", "-3", "99999999999",
            ",".join(str(i) for i in COUNTY if i != 4),
            ",".join(str(i) for i in reversed(COUNTY) if i != 4),
            ",".join(str(i) for i in COUNTY if i not in (3, 4, 5)),
            ",".join(str(i) for i in COUNTY) + ",x"]
SCHOOL_IDS = [None, 3, 4, 5]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"kaimen_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


initplan = _load(VERSIONS / "0015_rls_initplan.py")
hashed = _load(VERSIONS / "0017_rls_hashed_scope.py")
# Each migration that swaps the policy's expression, with the revision before it.
SWAPS = [(initplan, "0014_umbrella_indexes"), (hashed, "0016_figures_epoch")]


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


def test_the_swaps_chain_and_the_last_carries_the_policy_of_kaimen_rls():
    modules = [_load(path) for path in sorted(VERSIONS.glob("*.py"))]
    swaps = [m for m in modules if hasattr(m, "OLD_SCOPE_CHECK")]
    assert [m.revision for m in swaps] == [m.revision for m, _ in SWAPS]  # each tested below
    for m, before in SWAPS:
        assert m.down_revision == before
        assert m.POLICY == rls.POLICY
        assert m.OLD_SCOPE_CHECK != m.SCOPE_CHECK
    # each downgrade restores what the swap before it installed
    for earlier, later in itertools.pairwise(swaps):
        assert later.OLD_SCOPE_CHECK == earlier.SCOPE_CHECK
    assert swaps[-1].SCOPE_CHECK == rls.SCOPE_CHECK
    # the helper that puts new tables under the policy writes the new expression
    assert f"USING ({rls.SCOPE_CHECK}) WITH CHECK ({rls.SCOPE_CHECK})" in (
        rls.enable_statements("t")[-1])


def _evaluate(engine: sa.Engine, check: str, setting: str | None,
              school_ids: list[int | None] = SCHOOL_IDS) -> tuple[str, Any]:
    """Return the policy expression's value for each school id, or the error it raises."""
    rows = ", ".join(f"({'NULL' if s is None else s}::int)" for s in school_ids)
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


@pytest.mark.parametrize(("swap", "before"), SWAPS, ids=[m.revision for m, _ in SWAPS])
def test_the_new_expression_answers_as_the_old_one_for_every_setting(raw_engine, swap, before):
    answers, alone = {}, {}
    for setting in SETTINGS:
        # every kind of row together, and a NULL school alone (no row compares an id)
        for school_ids, seen in ((SCHOOL_IDS, answers), ([None], alone)):
            old = _evaluate(raw_engine, swap.OLD_SCOPE_CHECK, setting, school_ids)
            new = _evaluate(raw_engine, swap.SCOPE_CHECK, setting, school_ids)
            assert new == old, (
                f"kaimen.scope = {setting!r}, {school_ids}: {old} before, {new} now")
            seen[setting] = new
    # and the answers are the ones the policy promises (the comparison can fail)
    assert answers[None] == answers[""] == ("value", [False] * 4)
    assert answers["all"] == ("value", [True] * 4)
    assert answers["3,5"] == answers["5,3"] == ("value", [None, True, False, True])
    assert answers["4"] == ("value", [None, False, True, False])
    assert answers["x"][0] == answers["3,"][0] == answers["ALL"][0] == "error"
    county_but_4, county_but_ours, malformed = SETTINGS[-4:-2], SETTINGS[-2], SETTINGS[-1]
    for setting in county_but_4:
        assert answers[setting] == ("value", [None, True, False, True])
    assert answers[county_but_ours] == ("value", [None, False, False, False])
    assert answers[malformed][0] == "error"
    assert alone[None] == alone[""] == ("value", [False])
    assert alone["all"] == ("value", [True])
    assert alone["3"] == alone[county_but_ours] == ("value", [None])
    assert alone["x"][0] == alone[malformed][0] == "error"


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


def _policed_copy(name: str, check: str) -> None:
    """A temporary copy of the notices' schools under ``check``, as the app's role sees it."""
    db.session.execute(sa.text(
        f"CREATE TEMPORARY TABLE {name} AS SELECT school_id FROM testplugin_notice"))  # noqa: S608
    db.session.execute(sa.text(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"))
    db.session.execute(sa.text(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY"))
    db.session.execute(sa.text(f"CREATE POLICY old ON {name} USING ({check})"))


def test_a_scoped_count_reads_the_setting_once_in_an_init_plan(app, notices):
    context = in_scope(app, {notices.a1.id})
    try:
        count = sa.text("SELECT count(*) FROM testplugin_notice")
        assert db.session.scalar(count) == 1
        plan = _plan("SELECT count(*) FROM testplugin_notice")
        assert any("InitPlan" in line for line in plan), plan
        assert _filters(plan), plan
        assert not any("current_setting" in line for line in _filters(plan)), plan
        # the per-row expression, on a copy of the table, puts the setting in the row filter
        _policed_copy("old_notice", initplan.OLD_SCOPE_CHECK)
        old_plan = _plan("SELECT count(*) FROM old_notice")
        assert any("current_setting" in line for line in _filters(old_plan)), old_plan
        assert db.session.scalar(sa.text("SELECT count(*) FROM old_notice")) == 1
    finally:
        db.session.rollback()
        context.pop()


def test_a_county_scoped_count_probes_a_hash_table_of_the_scope(app, notices):
    """1,000 schools in scope: a row costs one probe of a hash table, not a search of a list."""
    faraway = range(10**6, 10**6 + 998)  # schools of the scope with no notice here
    context = in_scope(app, {notices.a1.id, notices.a2.id, *faraway})
    try:
        # the app's role, which row-level security binds (a superuser would bypass it)
        assert db.session.scalar(sa.text(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )) is False
        assert len(db.session.scalar(sa.text(
            "SELECT current_setting('kaimen.scope')")).split(",")) == 1000
        count = "SELECT count(*) FROM testplugin_notice"
        assert db.session.scalar(sa.text(count)) == 2
        filters = _filters(_plan(count))
        assert any("hashed SubPlan" in line for line in filters), filters
        # 0015's expression, on a copy of the table, searches the array for every row
        _policed_copy("linear_notice", hashed.OLD_SCOPE_CHECK)
        linear = "SELECT count(*) FROM linear_notice"
        old_filters = _filters(_plan(linear))
        assert any("= ANY" in line for line in old_filters), old_filters
        assert not any("hashed SubPlan" in line for line in old_filters), old_filters
        assert db.session.scalar(sa.text(linear)) == 2
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


@pytest.mark.parametrize(("swap", "before"), SWAPS, ids=[m.revision for m, _ in SWAPS])
def test_the_migration_swaps_the_expressions_both_ways_on_every_policed_table(
        pg, fresh_database, swap, before):
    app = make_app(fresh_database.url("postgresql"))
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=before)
            with db.engine.begin() as connection:
                old = _normalised(connection, swap.OLD_SCOPE_CHECK)
                new = _normalised(connection, swap.SCOPE_CHECK)
                assert old != new
                # A database built by the migrations up to ``before``, plus a table a plugin
                # put under the policy itself (rls.enable, as the tests' plugin does), all
                # with the expression the swap replaces.
                connection.execute(sa.text(
                    "CREATE TABLE plugin_extra (id integer PRIMARY KEY, school_id integer)"))
                rls.enable(connection, ["plugin_extra"])
                for table in rls.policed_tables(connection):
                    connection.execute(sa.text(f'DROP POLICY {rls.POLICY} ON "{table}"'))
                    connection.execute(sa.text(
                        f'CREATE POLICY {rls.POLICY} ON "{table}" USING '
                        f"({swap.OLD_SCOPE_CHECK}) WITH CHECK ({swap.OLD_SCOPE_CHECK})"))
                before_policies = _policies(connection)
                tables = rls.policed_tables(connection)
            assert {"plugin_extra", "complaint", "plan"} <= tables
            assert set(before_policies) == tables
            assert {policy[3:] for policy in before_policies.values()} == {(old, old)}

            flask_migrate.upgrade(revision=swap.revision)
            with db.engine.connect() as connection:
                after = _policies(connection)
                assert rls.policed_tables(connection) == tables  # still enabled and forced
            assert set(after) == tables
            assert {policy[3:] for policy in after.values()} == {(new, new)}
            assert {policy[:3] for policy in after.values()} == {
                policy[:3] for policy in before_policies.values()}  # permissive, PUBLIC, ALL

            flask_migrate.downgrade(revision=before)
            with db.engine.connect() as connection:
                assert _policies(connection) == before_policies
                assert rls.policed_tables(connection) == tables
            flask_migrate.upgrade(revision=swap.revision)
            with db.engine.connect() as connection:
                assert _policies(connection) == after
                assert rls.policed_tables(connection) == tables
            # and the later migrations end at the expression of kaimen.rls
            flask_migrate.upgrade(revision="heads")
            with db.engine.begin() as connection:
                latest = _normalised(connection, rls.SCOPE_CHECK)
                assert {policy[3:] for policy in _policies(connection).values()} == {
                    (latest, latest)}
                assert rls.policed_tables(connection) == tables
        finally:
            db.engine.dispose()
