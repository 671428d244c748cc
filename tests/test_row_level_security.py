"""PostgreSQL row-level security: the second line of tenant isolation, behind the ORM's.

The ORM line is bypassed on purpose here (raw ``text()`` SQL) to show that the
database alone keeps schools apart. The app connects as a plain role that owns
the tables; FORCE ROW LEVEL SECURITY binds it (see conftest's FreshDatabase).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import flask_migrate
import pytest
import sqlalchemy as sa
from conftest import make_app
from kaimen_noticeboard import Notice

from kaimen import rls, tenancy
from kaimen.extensions import db

VERSIONS = Path(__file__).parents[1] / "migrations" / "versions"
MIGRATION = VERSIONS / "0004_row_level_security.py"
TEST_PLUGIN_PREFIX = "testplugin_"  # the test plugin ships no migration


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"kaimen_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _policy_migrations() -> list[ModuleType]:
    """Return 0004 and every later migration that puts its new tables under the policy."""
    modules = [_load(path) for path in sorted(VERSIONS.glob("*.py"))]
    policed = [m for m in modules if hasattr(m, "TABLES") and hasattr(m, "POLICY")]
    assert MIGRATION.stem in {m.revision for m in policed}
    return policed


def _policed_by_migrations() -> set[str]:
    return {table for m in _policy_migrations() for table in m.TABLES}


@pytest.fixture
def pg(backend):
    if backend != "postgresql":
        pytest.skip("row-level security: SQLite has no such feature, only the ORM line")


@pytest.fixture
def notices(pg, ctx, county):
    for school in (county.a1, county.a2, county.b1):
        db.session.add(Notice(school_id=school.id, title=f"notice of {school.slug}"))
    db.session.commit()
    return county


def raw_titles() -> list[str]:
    """Read every notice with raw SQL: no ORM criteria, only the database's policy."""
    return sorted(db.session.scalars(sa.text("SELECT title FROM testplugin_notice")))


def in_scope(app, school_ids):
    """Run in a fresh app context (a new session and transaction) scoped as a request is."""
    context = app.app_context()
    context.push()
    if school_ids is not None:
        tenancy.set_scope(school_ids)
    return context


def test_raw_sql_in_a_school_scope_sees_only_that_school(app, notices):
    context = in_scope(app, {notices.a1.id})
    try:
        assert raw_titles() == ["notice of a1"]
    finally:
        context.pop()
    context = in_scope(app, {notices.a2.id, notices.b1.id})
    try:
        assert raw_titles() == ["notice of a2", "notice of b1"]
    finally:
        context.pop()


def test_no_scope_set_reads_nothing(app, notices):
    context = in_scope(app, None)
    try:
        assert raw_titles() == []
    finally:
        context.pop()
    context = in_scope(app, set())
    try:
        assert raw_titles() == []
    finally:
        context.pop()


def test_the_system_scope_sees_every_school(app, notices):
    context = in_scope(app, None)
    try:
        with tenancy.system_scope():
            assert raw_titles() == ["notice of a1", "notice of a2", "notice of b1"]
        assert raw_titles() == [], "leaving the system scope must narrow the setting again"
    finally:
        context.pop()


def test_all_schools_crosses_both_lines_for_its_statement_only(app, notices):
    context = in_scope(app, {notices.a1.id})
    try:
        crossing = tenancy.all_schools(sa.select(Notice.title).order_by(Notice.title))
        assert list(db.session.scalars(crossing)) == [
            "notice of a1", "notice of a2", "notice of b1"]
        assert raw_titles() == ["notice of a1"]
    finally:
        context.pop()


def test_writing_into_another_school_is_refused_by_the_policy(app, notices):
    context = in_scope(app, {notices.a1.id})
    try:
        # a Core INSERT: no flush, so none of the ORM line's checks run
        insert = sa.insert(Notice.__table__).values(title=sa.bindparam("t"),
                                                    school_id=sa.bindparam("s"))
        db.session.execute(insert, {"t": "mine", "s": notices.a1.id})
        refused = pytest.raises(sa.exc.ProgrammingError, match="row-level security")
        with refused, db.session.begin_nested():
            db.session.execute(insert, {"t": "theirs", "s": notices.b1.id})
        update = sa.text("UPDATE testplugin_notice SET school_id = :s WHERE title = 'mine'")
        refused = pytest.raises(sa.exc.ProgrammingError, match="row-level security")
        with refused, db.session.begin_nested():
            db.session.execute(update, {"s": notices.b1.id})
        # an UPDATE or DELETE of another school's rows finds nothing to change
        gone = db.session.execute(sa.text(
            "DELETE FROM testplugin_notice WHERE title = 'notice of b1'"))
        assert gone.rowcount == 0  # type: ignore[attr-defined]
    finally:
        context.pop()
    with tenancy.system_scope():
        assert "notice of b1" in raw_titles()


def test_a_pooled_connection_does_not_carry_a_scope_into_the_next_transaction(pg, app):
    with app.app_context():
        url = db.engine.url
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    tenancy.install_row_level_security(engine)
    read = sa.text("SELECT current_setting('kaimen.scope', true)")
    try:
        with app.app_context():
            tenancy.set_scope({5, 3})
            with engine.connect() as connection:
                assert connection.scalar(read) == "3,5"
                first = connection.connection.dbapi_connection
                connection.commit()
                # a new transaction on the same connection: sent again, not assumed
                assert connection.scalar(read) == "3,5"
                connection.rollback()
            with engine.connect() as connection:
                dbapi = connection.connection.dbapi_connection
                assert dbapi is first, "the pool should hand out the same connection"
                cursor = dbapi.cursor()  # under the app's events: what the server has
                cursor.execute("SELECT current_setting('kaimen.scope', true)")
                assert cursor.fetchone()[0] in (None, "")
                cursor.close()
                connection.rollback()
    finally:
        engine.dispose()


def test_every_tenant_owned_table_is_under_the_policy(pg, app):
    with app.app_context(), db.engine.connect() as connection:
        missing = tenancy.tenant_table_names() - rls.policed_tables(connection)
    assert missing == set(), f"school-owned tables without row-level security: {missing}"


def test_the_migration_covers_every_shipped_tenant_owned_table():
    """A plugin that adds a TenantOwned model must add its table to a policy migration."""
    shipped = {name for name in tenancy.tenant_table_names()
               if not name.startswith(TEST_PLUGIN_PREFIX)}
    assert _policed_by_migrations() == shipped
    for migration in _policy_migrations():
        assert migration.POLICY == rls.POLICY
        assert migration.SCOPE_CHECK == rls.SCOPE_CHECK


def test_the_migration_puts_the_tables_under_the_policy_and_takes_them_out(pg, fresh_database):
    app = make_app(fresh_database.url("postgresql"))
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="heads")
            with db.engine.connect() as connection:
                assert rls.policed_tables(connection) == _policed_by_migrations()
            flask_migrate.downgrade(revision="0003_pledges")
            with db.engine.connect() as connection:
                assert rls.policed_tables(connection) == set()
                enabled = connection.scalar(sa.text(
                    "SELECT count(*) FROM pg_class WHERE relrowsecurity OR relforcerowsecurity"))
                assert enabled == 0
        finally:
            db.engine.dispose()
