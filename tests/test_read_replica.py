"""A real streaming replica: bureau pages read from it; writes, and the writer's reads, do not.

The test PostgreSQL server (KAIMEN_TEST_DATABASE_URL) takes no replication
connections, so this module starts its own primary and replica clusters in a
temporary folder, on free loopback ports, with the PostgreSQL server binaries
(as the ``postgres`` system user when the tests run as root: the server refuses
root). The replica is made with ``pg_basebackup -R`` and streams from the
primary. Replay is paused (``pg_wal_replay_pause``) to make the two differ, so
that what a page shows tells which server answered.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from conftest import APP_ROLE, PASSWORD, County, Factory, make_app

from kaimen import pagecache, replica, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation

BINARIES = ("initdb", "pg_ctl", "pg_basebackup")
SKIP = (
    "read-replica test skipped: the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) "
    "were not found (pg_config --bindir, /usr/lib/postgresql/*/bin); install the postgresql "
    "package"
)
EN = {"Accept-Language": "en"}
NEW_NAME = "已改名的学校"


def server_bindir() -> Path | None:
    """Return the folder of the PostgreSQL server binaries, newest version first."""
    candidates: list[Path] = []
    try:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               check=True).stdout.strip()
        candidates.append(Path(found))
    except (OSError, subprocess.CalledProcessError):
        pass

    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for candidate in candidates:
        if all((candidate / name).is_file() for name in BINARIES):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Clusters:
    """A primary and its streaming replica, both trusting loopback connections."""

    bindir: Path
    root: Path
    primary_port: int = field(default_factory=free_port)
    replica_port: int = field(default_factory=free_port)
    running: list[Path] = field(default_factory=list)

    def run(self, binary: str, *args: str) -> None:
        # The server refuses to run as root: CI runs the tests as root.
        user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*user, str(self.bindir / binary), *args], check=True,
                       capture_output=True, timeout=60, cwd=self.root)

    def start(self, data: Path) -> None:
        self.run("pg_ctl", "-D", str(data), "-l", str(self.root / f"{data.name}.log"),
                 "-w", "-t", "30", "start")
        self.running.append(data)

    def stop_all(self) -> None:
        for data in reversed(self.running):
            try:
                self.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
            except (subprocess.SubprocessError, OSError):
                pass
        self.running.clear()

    def url(self, port: int, user: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"


def _settings(port: int, sockets: Path) -> str:
    return "\n".join([
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = '{sockets}'",
        "fsync = off",  # a throw-away cluster: speed over durability
        "synchronous_commit = off",
        "shared_buffers = 16MB",
        "max_connections = 40",
        "wal_level = replica",
        "max_wal_senders = 4",
        "hot_standby = on",
        "",
    ])


def _make_clusters(bindir: Path, root: Path) -> Clusters:
    clusters = Clusters(bindir, root)
    primary, standby = root / "primary", root / "replica"
    clusters.run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--locale=C", "--no-sync", "--no-instructions")
    with (primary / "postgresql.conf").open("a") as conf:
        conf.write(_settings(clusters.primary_port, root))
    with (primary / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    clusters.start(primary)
    clusters.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(clusters.primary_port),
                 "-U", "postgres", "-D", str(standby), "-R", "-X", "stream", "-c", "fast",
                 "--no-sync")
    with (standby / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {clusters.replica_port}\n")
    clusters.start(standby)
    engine = sa.create_engine(clusters.url(clusters.primary_port), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for _ in range(200):
                streaming = connection.scalar(sa.text(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"))
                if streaming:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the replica did not start streaming within 20 s")
            connection.exec_driver_sql(
                f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
            connection.exec_driver_sql(f"CREATE DATABASE kaimen OWNER {APP_ROLE}")
    finally:
        engine.dispose()
    return clusters


@pytest.fixture(scope="module")
def clusters() -> Iterator[Clusters]:
    bindir = server_bindir()
    if bindir is None:
        if os.environ.get("KAIMEN_REQUIRE_ALL_BACKENDS"):
            pytest.fail(SKIP)
        pytest.skip(SKIP)
    root = Path(tempfile.mkdtemp(prefix="kaimen-replica-"))
    made: Clusters | None = None
    try:
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(root, postgres.pw_uid, postgres.pw_gid)
        try:
            made = _make_clusters(bindir, root)
        except subprocess.CalledProcessError as error:
            logs = "".join(p.read_text(errors="replace") for p in root.glob("*.log"))
            pytest.fail(f"{error}: {error.stderr!r}\n{logs}")
        yield made
    finally:
        if made is not None:
            made.stop_all()
        # a set-up that failed half-way may have left a server behind
        for data in (root / "primary", root / "replica"):
            if (data / "postmaster.pid").exists():
                Clusters(bindir, root, running=[data]).stop_all()
        shutil.rmtree(root, ignore_errors=True)


class Superuser:
    """Superuser connections to each server, for pausing replay and checking positions."""

    def __init__(self, clusters: Clusters) -> None:
        self.primary = sa.create_engine(clusters.url(clusters.primary_port, database="kaimen"),
                                        isolation_level="AUTOCOMMIT")
        self.replica = sa.create_engine(clusters.url(clusters.replica_port, database="kaimen"),
                                        isolation_level="AUTOCOMMIT")

    def scalar(self, engine: sa.Engine, sql: str) -> Any:
        with engine.connect() as connection:
            return connection.scalar(sa.text(sql))

    def caught_up(self) -> None:
        """Wait until a new query on the replica sees everything the primary has committed.

        A probe row is committed last, synchronously (which flushes every asynchronous
        commit before it), and awaited on the replica. Comparing replay positions alone
        was not enough: the replica was seen to report the primary's position while a
        row committed before it was not yet visible to a new query there.
        """
        marker = secrets.token_hex(8)
        with self.primary.connect() as connection:
            connection.execute(sa.text("SET synchronous_commit = on"))
            connection.execute(sa.text("CREATE TABLE IF NOT EXISTS replica_probe (marker text)"))
            connection.execute(sa.text("INSERT INTO replica_probe VALUES (:marker)"),
                               {"marker": marker})
        for _ in range(200):
            with self.replica.connect() as connection:
                seen = connection.scalar(sa.text(
                    "SELECT count(*) FROM pg_class WHERE relname = 'replica_probe'"))
                if seen and connection.scalar(sa.text(
                        "SELECT count(*) FROM replica_probe WHERE marker = :marker"),
                        {"marker": marker}):
                    return
            time.sleep(0.05)
        pytest.fail("the replica did not catch up within 10 s")

    def pause(self) -> None:
        self.caught_up()
        self.scalar(self.replica, "SELECT pg_wal_replay_pause()")
        for _ in range(200):
            if self.scalar(self.replica, "SELECT pg_get_wal_replay_pause_state()") == "paused":
                return
            time.sleep(0.05)
        pytest.fail("replay did not pause")

    def resume(self) -> None:
        self.scalar(self.replica, "SELECT pg_wal_replay_resume()")
        self.caught_up()

    def dispose(self) -> None:
        self.primary.dispose()
        self.replica.dispose()


@dataclass
class Setup:
    app: Any
    servers: Superuser
    ids: dict[str, int]  # the schools' ids, by slug
    statements: dict[str, int]


@pytest.fixture(scope="module")
def setup(clusters: Clusters) -> Iterator[Setup]:
    app = make_app(
        clusters.url(clusters.primary_port, APP_ROLE, "kaimen"),
        DATABASE_REPLICA_URL=clusters.url(clusters.replica_port, APP_ROLE, "kaimen"),
        PLUGINS_DISABLED="noticeboard",  # the test plugin ships no migration
    )
    servers = Superuser(clusters)
    statements = {"primary": 0, "replica": 0}
    try:
        with app.app_context():
            flask_migrate.upgrade(revision="heads")
            with tenancy.system_scope():
                county = County(Factory())
                from blueprints.complaints import services

                for school, subject in ((county.a1, "A县一校的意见"), (county.b1, "B县一校的意见")):
                    services.file_case(school, services.Submission(
                        kind="complaint", category="fees", subject=subject,
                        description="本学期食堂每餐涨价两元，没有公示。"))
                db.session.commit()
                ids = {s.slug: s.id for s in (county.a1, county.a2, county.b1)}
            for name, engine in (("primary", db.engine), ("replica", replica.engine_of(app))):
                def count(*_args: Any, name: str = name) -> None:
                    statements[name] += 1

                sa.event.listen(engine, "before_cursor_execute", count)
        servers.caught_up()
        yield Setup(app, servers, ids, statements)
    finally:
        servers.dispose()
        replica.engine_of(app).dispose()
        with app.app_context():
            db.engine.dispose()


def log_in(app: Any, username: str, window_over: bool = True) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, f"login of {username} failed"
    if window_over:
        # The login wrote (it always may): its read-your-writes window is over now.
        with client.session_transaction() as session:
            session.pop(replica.PRIMARY_UNTIL, None)
    return client


def served(setup: Setup, method: Any, url: str, **kwargs: Any) -> tuple[Any, dict[str, int]]:
    """Return the response and how many statements each server ran for it."""
    before = dict(setup.statements)
    response = method(url, headers=EN, **kwargs)
    return response, {k: setup.statements[k] - before[k] for k in before}


def rename(setup: Setup, school_id: int, name: str) -> None:
    """Rename the school on the primary, bumping its version as the app's own write does
    (kept pages and umbrella views are keyed by it)."""
    with setup.servers.primary.begin() as connection:
        connection.execute(sa.text("UPDATE organisation SET name = :name WHERE id = :id"),
                           {"name": name, "id": school_id})
        pagecache.bump(connection, [school_id])


def test_the_bureau_dashboard_is_served_by_the_replica(setup):
    a1 = setup.ids["a1"]
    client = log_in(setup.app, "a.supervisor")
    setup.servers.pause()
    try:
        rename(setup, a1, NEW_NAME)  # on the primary only, while the replica waits
        dashboard, used = served(setup, client.get, "/b/county-a/")
        assert dashboard.status_code == 200
        assert "a1学校" in dashboard.text
        assert NEW_NAME not in dashboard.text, "the dashboard came from the primary"
        assert used["replica"] > 0
        assert used["primary"] == 0
        export, used = served(setup, client.get, "/b/county-a/export?format=csv")
        assert export.status_code == 200
        assert "a1学校" in export.get_data(as_text=True)
        assert used == {"primary": 0, "replica": used["replica"]}
        # a school page is no bureau page: the primary answers it, new name and all
        school, used = served(setup, client.get, "/s/a1/")
        assert NEW_NAME in school.text
        assert used["replica"] == 0
    finally:
        setup.servers.resume()
        rename(setup, a1, "a1学校")
    with setup.app.test_request_context("/b/county-a/"):
        assert db.session.scalar(sa.text("SELECT pg_is_in_recovery()")) is True
        db.session.remove()
    with setup.app.test_request_context("/b/county-a/complaints/settings", method="POST"):
        assert db.session.scalar(sa.text("SELECT pg_is_in_recovery()")) is False
        db.session.remove()


def _days(page: str) -> tuple[str, str]:
    values = []
    for name in ("acknowledge_days", "answer_days"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
        assert tag, name
        value = re.search(r'value="(\d+)"', tag.group(0))
        assert value, tag.group(0)
        values.append(value.group(1))
    return values[0], values[1]


def test_a_writer_reads_their_own_write_from_the_primary(setup):
    client = log_in(setup.app, "a.supervisor")
    before = _days(client.get("/b/county-a/complaints/settings", headers=EN).text)
    assert before != ("7", "33")
    setup.servers.pause()
    try:
        saved, used = served(setup, client.post, "/b/county-a/complaints/settings",
                             data={"acknowledge_days": "7", "answer_days": "33"})
        assert saved.status_code == 302
        assert used["replica"] == 0, "a write went to the replica"
        page, used = served(setup, client.get, saved.headers["Location"])
        assert _days(page.text) == ("7", "33"), "the writer does not see what they saved"
        assert used["replica"] == 0
        assert used["primary"] > 0
        # another supervisor of the bureau, who wrote nothing, reads the replica:
        # still paused, so still the old figures there
        other = log_in(setup.app, "a.admin")
        page, used = served(setup, other.get, "/b/county-a/complaints/settings")
        assert _days(page.text) == before
        assert used["primary"] == 0
        # and so does the writer once the window is over
        with client.session_transaction() as session:
            assert session[replica.PRIMARY_UNTIL] > time.time()
            session.pop(replica.PRIMARY_UNTIL)
        assert _days(client.get("/b/county-a/complaints/settings", headers=EN).text) == before
    finally:
        setup.servers.resume()
    assert _days(client.get("/b/county-a/complaints/settings", headers=EN).text) == ("7", "33")


def test_row_level_security_holds_on_the_replica(setup):
    ids = setup.ids
    for username, bureau, own, other in (
        ("a.supervisor", "county-a", "A县一校的意见", "B县一校的意见"),
        ("b.supervisor", "county-b", "B县一校的意见", "A县一校的意见"),
    ):
        client = log_in(setup.app, username)
        cases, used = served(setup, client.get, f"/b/{bureau}/complaints/")
        assert cases.status_code == 200
        assert own in cases.text
        assert other not in cases.text
        assert used["primary"] == 0
    # Raw SQL skips the ORM's criteria: only the replica's policies stand in the way.
    for scope, expected in (
        ({ids["a1"], ids["a2"]}, ["A县一校的意见"]),
        ({ids["b1"]}, ["B县一校的意见"]),
        (set(), []),
    ):
        with setup.app.test_request_context("/b/county-a/complaints/"):
            tenancy.set_scope(scope)
            assert db.session.scalar(sa.text("SELECT pg_is_in_recovery()")) is True
            assert db.session.scalar(sa.text("SELECT current_user")) == APP_ROLE
            subjects = db.session.scalars(sa.text("SELECT subject FROM complaint ORDER BY 1"))
            assert list(subjects) == expected
            db.session.remove()


def test_a_bureau_read_cannot_write(setup):
    with setup.app.test_request_context("/b/county-a/"), tenancy.system_scope():
        school = db.session.get(Organisation, setup.ids["a1"])
        assert school is not None
        school.name = "不该写入"
        with pytest.raises(replica.ReadOnlyRequest):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(replica.ReadOnlyRequest):
            db.session.execute(sa.update(Organisation).values(name="不该写入"))
        db.session.rollback()
        # raw SQL slips past both checks, and the replica itself refuses it
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            db.session.execute(sa.text("UPDATE organisation SET name = 'x'"))
        db.session.remove()



def _counted_app(clusters: Clusters, **settings: Any) -> tuple[Any, dict[str, int]]:
    """Another app on the same primary and replica, with ``settings``; counts statements."""
    app = make_app(clusters.url(clusters.primary_port, APP_ROLE, "kaimen"),
                   PLUGINS_DISABLED="noticeboard", **settings)
    statements = {"primary": 0, "replica": 0}
    with app.app_context():
        engines = {"primary": db.engine}
    if replica.EXTENSION in app.extensions:
        engines["replica"] = replica.engine_of(app)
    for name, engine in engines.items():
        def count(*_args: Any, name: str = name) -> None:
            statements[name] += 1

        sa.event.listen(engine, "before_cursor_execute", count)
    return app, statements


def _dispose(app: Any) -> None:
    if replica.EXTENSION in app.extensions:
        replica.engine_of(app).dispose()
    with app.app_context():
        db.engine.dispose()


def test_a_replica_further_behind_than_the_max_lag_is_passed_over(setup, clusters):
    """Replay paused, the primary writes: within the max lag the replica still answers
    (its old name shows); past it the primary answers (the new name); caught up, the
    replica answers again."""
    app, statements = _counted_app(
        clusters, DATABASE_REPLICA_URL=clusters.url(clusters.replica_port, APP_ROLE, "kaimen"),
        REPLICA_MAX_LAG_SECONDS=1)
    a1 = setup.ids["a1"]
    try:
        client = log_in(app, "a.supervisor")
        setup.servers.pause()
        try:
            rename(setup, a1, NEW_NAME)
            before = dict(statements)
            page = client.get("/b/county-a/", headers=EN)
            assert page.status_code == 200
            assert NEW_NAME not in page.text  # a moment behind: the replica answers
            assert statements["replica"] > before["replica"]
            time.sleep(1.3)  # past the max lag, still paused
            client.get("/b/county-a/", headers=EN)  # the check notes the primary's position
            time.sleep(0.3)
            before = dict(statements)
            page = client.get("/b/county-a/", headers=EN)
            assert page.status_code == 200
            assert NEW_NAME in page.text, "a replica more than 1 s behind answered"
            assert statements["replica"] == before["replica"]
        finally:
            setup.servers.resume()
            rename(setup, a1, "a1学校")
        setup.servers.caught_up()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # checked again within a quarter of the max lag
            before = dict(statements)
            page = client.get("/b/county-a/", headers=EN)
            if statements["replica"] > before["replica"]:
                break
            time.sleep(0.3)
        assert statements["replica"] > before["replica"], "the caught-up replica was not used"
        assert "a1学校" in page.text
    finally:
        _dispose(app)


def test_a_replica_that_does_not_answer_is_passed_over(setup, clusters):
    """A replica that is down (here: nothing listens on its port) costs no error page."""
    app, statements = _counted_app(
        clusters, DATABASE_REPLICA_URL=clusters.url(free_port(), APP_ROLE, "kaimen"))
    try:
        client = log_in(app, "a.supervisor")
        before = dict(statements)
        page = client.get("/b/county-a/", headers=EN)
        assert page.status_code == 200
        assert "a1学校" in page.text
        assert statements["primary"] > before["primary"]
        export = client.get("/b/county-a/export?format=csv")
        assert export.status_code == 200
    finally:
        _dispose(app)


# -- without a replica: the rule that a bureau read never writes holds on every backend ------


def test_a_bureau_page_may_not_write_even_without_a_replica(app, county):
    with app.test_request_context("/b/county-a/"), tenancy.system_scope():
        assert replica.is_bureau_read()
        assert not replica.reads_from_replica()  # no replica: the primary answers
        school = db.session.get(Organisation, county.a1.id)
        assert school is not None
        school.name = "不该写入"
        with pytest.raises(replica.ReadOnlyRequest):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(replica.ReadOnlyRequest):
            db.session.execute(sa.insert(Organisation).values(
                kind="school", slug="x", name="x", parent_id=county.a.id))
        db.session.rollback()
    # the same page's POST, a school page's GET and the CLI (no request) may write
    for path, method in (("/b/county-a/", "POST"), ("/s/a1/", "GET")):
        with app.test_request_context(path, method=method), tenancy.system_scope():
            assert not replica.is_bureau_read()
            school = db.session.get(Organisation, county.a1.id)
            assert school is not None
            school.name = f"{path} {method}"
            db.session.flush()
            db.session.rollback()
