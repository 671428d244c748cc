"""Fixtures: the app on SQLite and PostgreSQL, one rolled-back transaction per test, factories."""

from __future__ import annotations

import contextvars
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy.orm import scoped_session, sessionmaker

FIXTURES = Path(__file__).parent / "fixtures"
# The test plugin is found through its entry point, like any installed plugin.
sys.path.insert(0, str(FIXTURES / "plugin_dist"))
# A cheap password hash for the suite (production keeps scrypt; test_config proves it), also
# for the servers that browser and load tests start as subprocesses.
os.environ.setdefault("KAIMEN_PASSWORD_METHOD", "pbkdf2:sha256:1000")

from kaimen import create_app, figures, rls, tenancy  # noqa: E402
from kaimen.auth.models import RoleGrant, User  # noqa: E402
from kaimen.extensions import cache, db, limiter  # noqa: E402
from kaimen.orgs import BUREAU, SCHOOL, Organisation, Unit  # noqa: E402

PASSWORD = "correct horse battery"
PG_SKIP = (
    "PostgreSQL tests skipped: set KAIMEN_TEST_DATABASE_URL "
    "(for example postgresql://postgres@127.0.0.1:5432/test) to run them"
)
_HASH_CACHE: dict[str, str] = {}
APP_ROLE = "kaimen_app"  # the tests' PostgreSQL login: not a superuser, owns its databases


def postgres_url() -> str | None:
    """Return the PostgreSQL URL the tests may use, with the psycopg 3 driver."""
    url = os.environ.get("KAIMEN_TEST_DATABASE_URL")
    if not url:
        return None
    return sa.engine.make_url(url).set(drivername="postgresql+psycopg").render_as_string(False)


class FreshDatabase:
    """Create and drop throw-away databases on the test PostgreSQL server, or SQLite files."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.created: list[str] = []

    def url(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp_path_factory.mktemp('db') / 'kaimen.db'}"
        base = postgres_url()
        if base is None:
            if os.environ.get("KAIMEN_REQUIRE_ALL_BACKENDS"):
                pytest.fail(
                    "KAIMEN_REQUIRE_ALL_BACKENDS is set: KAIMEN_TEST_DATABASE_URL is missing"
                )
            pytest.skip(PG_SKIP)
        name = f"kaimen_test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            _create_app_role(connection)
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" OWNER {APP_ROLE}')
        admin.dispose()
        self.created.append(name)
        # Superusers bypass row-level security: the app connects as the database's
        # owner, a plain role, which FORCE ROW LEVEL SECURITY binds.
        url = sa.engine.make_url(base).set(database=name, username=APP_ROLE, password=None)
        return url.render_as_string(False)

    def drop_all(self) -> None:
        base = postgres_url()
        if base is None or not self.created:
            return
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in self.created:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _create_app_role(connection: sa.Connection) -> None:
    """Create the app's login role once: no superuser, so row-level security binds it."""
    exists = connection.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": APP_ROLE}
    ).first()
    if exists is None:
        connection.exec_driver_sql(
            f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
        )


@pytest.fixture(scope="session")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshDatabase]:
    factory = FreshDatabase(tmp_path_factory)
    yield factory
    factory.drop_all()


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context, ``g`` and session.

    Flask reuses an app context that is already pushed (as the ``ctx`` fixture
    does), which would share ``g`` and the ORM session between the test and
    the request, and between requests; running each request in an empty
    ``contextvars.Context`` gives it a fresh one, as in production. A streamed body (an
    export) is read within that context too, as a WSGI server reads it in the request's
    thread: its contexts are pushed and popped in one ``Context``.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if self.preserve_context:  # ``with client:`` asks to keep the request's context
            return super().open(*args, **kwargs)
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_app(url: str, **settings: Any) -> Any:
    """Create a test app on ``url`` with test settings."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-not-for-production",
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "BASE_URL": "https://kaimen.example.org",
            # The suite builds many apps in one process; a frozen one is never collected.
            "GC_FREEZE": False,
            **settings,
        }
    )
    app.test_client_class = IsolatedClient
    return app


REDIS = ("127.0.0.1", 6379)


def redis_running() -> bool:
    """Return whether Redis answers on loopback (the tests that need it skip otherwise)."""
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            return True
    except OSError:
        return False


def one_writer_waits_for_none(app: Any, long_write: Callable[[], None],
                              quick_write: Callable[[], None]) -> list[BaseException]:
    """Run ``long_write`` (no commit) in one thread's transaction and, while that is still
    open, ``quick_write`` (it commits) in another; commit the first only after the second.

    Both run in an app context of their own, in the system scope. Return what went wrong;
    the second writer waiting on a lock the first holds shows as an error, after 30 s.
    """
    written, other_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def long_writer() -> None:
        try:
            with app.app_context(), tenancy.system_scope():
                long_write()
                db.session.flush()
                written.set()
                # Still in its transaction, as a writer is while it stores files and a case.
                assert other_done.wait(timeout=30), "the other writer waited for this one"
                db.session.commit()
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            errors.append(error)
            written.set()

    def quick_writer() -> None:
        try:
            assert written.wait(timeout=30)
            with app.app_context(), tenancy.system_scope():
                quick_write()
                db.session.commit()
            other_done.set()
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=long_writer), threading.Thread(target=quick_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def session_app(backend: str, fresh_database: FreshDatabase) -> Iterator[Any]:
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        db.create_all()
        with db.engine.begin() as connection:
            rls.enable(connection, tenancy.tenant_table_names())
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(session_app: Any) -> Iterator[Any]:
    """The app, with every session of this test joined to one transaction rolled back after it."""
    with session_app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
    original = db.session
    # Flask-SQLAlchemy's own Session ignores a bind, so use SQLAlchemy's, scoped the same way.
    db.session = scoped_session(
        sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ),
        scopefunc=_app_ctx_id,
    )
    limiter.reset()
    with session_app.app_context():
        cache.clear()  # pages of an earlier test's rolled-back data are gone with it
        figures.forget()  # and the figures counted from it (ids and versions recur)
    saved_config = dict(session_app.config)
    try:
        yield session_app
    finally:
        session_app.config.clear()
        session_app.config.update(saved_config)
        with session_app.app_context():
            db.session.remove()
        db.session = original
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def ctx(app: Any) -> Iterator[Any]:
    """An app context in the system scope, for setting up and inspecting data."""
    with app.app_context(), tenancy.system_scope():
        yield app


def password_hash() -> str:
    if "hash" not in _HASH_CACHE:
        user = User(username="x", display_name="x")
        user.set_password(PASSWORD)
        _HASH_CACHE["hash"] = user.password_hash
    return _HASH_CACHE["hash"]


class Factory:
    """Create organisations and users inside the test's transaction."""

    def bureau(self, slug: str, parent: Organisation | None = None, **values: Any) -> Organisation:
        org = Organisation(
            kind=BUREAU,
            slug=slug,
            name=values.pop("name", f"{slug}教育局"),
            parent_id=parent.id if parent else None,
            **values,
        )
        db.session.add(org)
        db.session.flush()
        return org

    def school(self, slug: str, bureau: Organisation, **values: Any) -> Organisation:
        org = Organisation(
            kind=SCHOOL,
            slug=slug,
            name=values.pop("name", f"{slug}学校"),
            parent_id=bureau.id,
            **values,
        )
        db.session.add(org)
        db.session.flush()
        return org

    def unit(self, slug: str, bureau: Organisation, kind: str = "department") -> Unit:
        unit = Unit(slug=slug, bureau_id=bureau.id, name=f"{slug}股", kind=kind)
        db.session.add(unit)
        db.session.flush()
        return unit

    def user(
        self,
        username: str,
        role: str | None = None,
        org: Organisation | None = None,
        unit: Unit | None = None,
        **values: Any,
    ) -> User:
        user = User(
            username=username,
            display_name=values.pop("display_name", username.title()),
            password_hash=password_hash(),
            **values,
        )
        if role is not None and org is not None:
            user.grants.append(
                RoleGrant(role=role, org_id=org.id, unit_id=unit.id if unit else None)
            )
        db.session.add(user)
        db.session.flush()
        return user


@pytest.fixture
def make(ctx: Any) -> Factory:
    return Factory()


class County:
    """Two bureaus: A (schools a1, a2, under a city bureau) and B (school b1), with staff."""

    def __init__(self, make: Factory) -> None:
        self.city = make.bureau("city")
        self.a = make.bureau("county-a", parent=self.city)
        self.b = make.bureau("county-b")
        self.a1 = make.school("a1", self.a)
        self.a2 = make.school("a2", self.a)
        self.b1 = make.school("b1", self.b)
        self.unit = make.unit("jiaoyan", self.a, kind="subordinate")
        self.users = {
            "a1.admin": make.user("a1.admin", "school_admin", self.a1),
            "a1.teacher": make.user("a1.teacher", "teacher", self.a1),
            "a2.admin": make.user("a2.admin", "school_admin", self.a2),
            "b1.admin": make.user("b1.admin", "school_admin", self.b1),
            "a.admin": make.user("a.admin", "bureau_admin", self.a),
            "a.supervisor": make.user("a.supervisor", "supervisor", self.a),
            "a.leader": make.user("a.leader", "leader", self.a),
            "a.unit": make.user("a.unit", "unit_staff", self.a, unit=self.unit),
            "b.supervisor": make.user("b.supervisor", "supervisor", self.b),
            "b.admin": make.user("b.admin", "bureau_admin", self.b),
            "city.supervisor": make.user("city.supervisor", "supervisor", self.city),
        }
        db.session.commit()


@pytest.fixture
def county(make: Factory) -> County:
    return County(make)


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log ``client`` in; fail the test when the login is refused."""
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, f"login of {username} failed"
    return response


@pytest.fixture
def as_user(client: Any) -> Any:
    """Log the test client in as the given username."""

    def log_in(username: str) -> Any:
        login(client, username)
        return client

    return log_in
