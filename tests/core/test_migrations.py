"""The migrations build exactly the schema the models describe, and tear it down again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import make_app

from kaimen.extensions import db

# The test plugin (tests/fixtures/plugin_dist/kaimen_noticeboard) is a fixture, not a
# shipped plugin: it has no migration of its own, so its tables exist in the metadata
# but are never created by ``upgrade``. Only its differences are ignored, by name.
TEST_PLUGIN_PREFIX = "testplugin_"


def _table_name(diff: Any) -> str | None:
    """Return the table a single autogenerate difference is about, if it names one."""
    if isinstance(diff, list):  # column modifications come grouped in a list of tuples
        return _table_name(diff[0]) if diff else None
    for item in diff[1:]:
        if isinstance(item, sa.Table):
            return item.name
        if isinstance(item, sa.Index | sa.UniqueConstraint | sa.ForeignKeyConstraint):
            table = item.table
            return table.name if table is not None else None
        if isinstance(item, sa.Column) and item.table is not None:
            return item.table.name
    # ("modify_type", schema, table_name, column_name, ...) and similar carry the name
    if len(diff) > 2 and isinstance(diff[2], str):
        return diff[2]
    return None


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """migrations/env.py runs logging.fileConfig; undo it so later tests log as before."""
    names = [None, "sqlalchemy.engine", "alembic", "flask_migrate"]
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers))
             for name in names}
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers


def _all_differences() -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def _schema_differences() -> list[Any]:
    return [d for d in _all_differences()
            if not (_table_name(d) or "").startswith(TEST_PLUGIN_PREFIX)]


def _table_names() -> set[str]:
    with db.engine.connect() as connection:
        return set(sa.inspect(connection).get_table_names())


def test_migrations_match_the_models_and_downgrade_cleanly(backend, fresh_database):
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        try:
            assert _table_names() == set(), "the database should start empty"
            flask_migrate.upgrade(revision="heads")
            created = _table_names()
            assert {"organisation", "user_account", "audit_event", "audit_head",
                    "notification", "receipt"} <= created
            assert not any(name.startswith(TEST_PLUGIN_PREFIX) for name in created)

            differences = _schema_differences()
            assert differences == [], f"models and migrations differ: {differences}"

            flask_migrate.downgrade(revision="base")
            assert _table_names() <= {"alembic_version"}
            if "alembic_version" in _table_names():
                with db.engine.connect() as connection:
                    versions = connection.execute(sa.text("SELECT * FROM alembic_version"))
                    assert versions.all() == []

            flask_migrate.upgrade(revision="heads")
            assert _table_names() == created
            assert _schema_differences() == []
        finally:
            db.engine.dispose()


def test_the_difference_filter_only_hides_the_test_plugin(backend, fresh_database):
    """The check above can fail: a table missing from the migrations is reported."""
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="heads")
            with db.engine.begin() as connection:
                connection.execute(sa.text("DROP TABLE receipt"))
            missing = [d for d in _schema_differences() if d[0] == "add_table"]
            assert [d[1].name for d in missing] == ["receipt"]
            # ...while the test plugin's table, which has no migration, is what gets hidden.
            hidden = {d[1].name for d in _all_differences() if d[0] == "add_table"}
            assert hidden == {"receipt", "testplugin_notice"}
        finally:
            db.engine.dispose()


def test_receipt_tokens_move_from_the_complaint_to_its_receipt_and_back(backend, fresh_database):
    """0008 copies a complaint's form token and sealed code onto its receipt, and back down."""
    app = make_app(fresh_database.url(backend))
    token, sealed = "a" * 64, "b" * 40
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0004_row_level_security")
            with db.engine.begin() as connection:
                if backend == "postgresql":  # the complaint table has row-level security
                    connection.execute(sa.text("SELECT set_config('kaimen.scope', 'all', true)"))
                connection.execute(sa.text(
                    "INSERT INTO organisation (id, kind, slug, name, timezone, default_locale, "
                    "created_at) VALUES (1, 'school', 's', 'S', 'Asia/Shanghai', 'zh_Hans', "
                    "'2026-09-01 08:00:00')"))
                connection.execute(sa.text(
                    "INSERT INTO complaint (id, kind, category, channel, subject, description, "
                    "anonymous, about_leadership, status, handled_by_bureau, created_at, "
                    "received_on, ack_due, answer_due, flagged_for_bureau, urged_count, "
                    "content_digest, school_id, token_hash, sealed_code) VALUES (7, 'complaint', "
                    "'fees', 'online', 's', 'd', true, false, 'received', false, "
                    "'2026-09-01 08:00:00', '2026-09-01', '2026-09-03', '2026-09-22', false, 0, "
                    "'', 1, :token, :sealed)"), {"token": token, "sealed": sealed})
                connection.execute(sa.text(
                    "INSERT INTO receipt (code_hash, plugin, object_id, school_id, created_at) "
                    "VALUES ('h1', 'complaints', 7, 1, '2026-09-01 08:00:00'), "
                    "('h2', 'noticeboard', 7, 1, '2026-09-01 08:00:00')"))
            flask_migrate.upgrade(revision="0008_receipt_tokens")
            with db.engine.connect() as connection:
                rows = connection.execute(sa.text(
                    "SELECT plugin, token_hash, sealed_code FROM receipt ORDER BY plugin")).all()
                assert [tuple(row) for row in rows] == [
                    ("complaints", token, sealed), ("noticeboard", None, None)]
                columns = {c["name"] for c in sa.inspect(connection).get_columns("complaint")}
                assert not {"token_hash", "sealed_code"} & columns
            flask_migrate.downgrade(revision="0004_row_level_security")
            with db.engine.begin() as connection:
                if backend == "postgresql":
                    connection.execute(sa.text("SELECT set_config('kaimen.scope', 'all', true)"))
                back = connection.execute(sa.text(
                    "SELECT token_hash, sealed_code FROM complaint WHERE id = 7")).one()
                assert tuple(back) == (token, sealed)
        finally:
            db.engine.dispose()


def test_audit_chains_written_before_0018_stay_verifiable(backend, fresh_database):
    """0018 rehashes nothing: a bureau's chain becomes its own, hashed as before; schools'
    chains start at #1; downgrading then refuses, since they cannot join it unhashed."""
    import hashlib
    import hmac
    import json

    from kaimen import audit, tenancy
    from kaimen.orgs import Organisation

    app = make_app(fresh_database.url(backend))
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0017_rls_hashed_scope")
            key, prev = audit.chain_key(), audit.GENESIS
            with db.engine.begin() as connection:
                for org_id, kind, parent in ((1, "bureau", None), (2, "school", 1)):
                    connection.execute(sa.text(
                        "INSERT INTO organisation (id, kind, slug, name, parent_id, timezone, "
                        "default_locale, created_at) VALUES (:id, :kind, :slug, :slug, :parent, "
                        "'Asia/Shanghai', 'zh_Hans', '2026-09-01 08:00:00')"),
                        {"id": org_id, "kind": kind, "slug": f"org{org_id}", "parent": parent})
                for seq, school_id in ((1, 2), (2, None), (3, 2)):
                    when = f"2026-09-01T08:00:0{seq}.000000"
                    # the hashed content as the platform wrote it before 0018, spelt out here
                    content = [1, seq, school_id, None, "public", f"old.step{seq}", None, None,
                               {}, when, prev]
                    digest = hmac.new(key, json.dumps(
                        content, sort_keys=True, ensure_ascii=False,
                        separators=(",", ":")).encode(), hashlib.sha256).hexdigest()
                    connection.execute(sa.text(
                        "INSERT INTO audit_event (bureau_id, seq, school_id, actor_name, action, "
                        "data, created_at, prev_hash, hash) VALUES (1, :seq, :school, 'public', "
                        ":action, '{}', :when, :prev, :hash)"),
                        {"seq": seq, "school": school_id, "action": f"old.step{seq}",
                         "when": when.replace("T", " "), "prev": prev, "hash": digest})
                    prev = digest
                connection.execute(sa.text(
                    "INSERT INTO audit_head (bureau_id, seq, last_hash) VALUES (1, 3, :h)"),
                    {"h": prev})
            flask_migrate.upgrade(revision="0018_audit_chain_per_school")
            with tenancy.system_scope():
                assert audit.verify() == []
                old = db.session.scalars(sa.select(audit.AuditEvent)).all()
                assert {(e.bureau_id, e.chain_id) for e in old} == {(1, 1)}
                db.session.remove()
            flask_migrate.upgrade(revision="heads")  # the code below writes today's rows
            with tenancy.system_scope():
                school = db.session.get(Organisation, 2)
                audit.record("new.step", school, school=school)
                db.session.commit()
                new = db.session.scalar(sa.select(audit.AuditEvent).filter_by(action="new.step"))
                assert (new.chain_id, new.seq, new.prev_hash) == (2, 1, audit.GENESIS)
                assert audit.verify() == []
                db.session.remove()
            flask_migrate.downgrade(revision="0018_audit_chain_per_school")  # the later ones
            with pytest.raises(SystemExit):  # Flask-Migrate logs the refusal and exits
                flask_migrate.downgrade(revision="0017_rls_hashed_scope")
            with db.engine.connect() as connection:
                assert connection.execute(sa.text(
                    "SELECT version_num FROM alembic_version")).scalar() == (
                        "0018_audit_chain_per_school")
                columns = {c["name"] for c in sa.inspect(connection).get_columns("audit_head")}
                assert "chain_id" in columns
        finally:
            db.engine.dispose()
