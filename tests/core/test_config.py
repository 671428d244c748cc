"""Settings, the secret-key guard, SQLite's connection set-up and the proxy-aware limiter."""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import make_app

from kaimen import config, create_app, public, replica, tenancy
from kaimen.config import DEFAULT_SECRET_KEY, ConfigError
from kaimen.extensions import db

REAL_SECRET = "a-long-random-production-secret-0123456789abcdef"
REAL_AUDIT_KEY = "another-long-random-audit-chain-key-0123456789"


@pytest.fixture
def clean_env(monkeypatch):
    """Remove every KAIMEN_* setting of the environment, so only the test's own count."""
    for name in config.SETTINGS:
        monkeypatch.delenv(f"KAIMEN_{name}", raising=False)
    return monkeypatch


def dispose(app):
    with app.app_context():
        db.engine.dispose()


def test_environment_overrides_defaults():
    settings = config.load(environ={
        "KAIMEN_BASE_URL": "https://jiayu.example.cn",
        "KAIMEN_PROXY_COUNT": "2",
        "KAIMEN_DEBUG": "yes",
        "KAIMEN_LOGIN_MAX_FAILURES": "7",
        "KAIMEN_PLUGINS_DISABLED": "noticeboard",
        "KAIMEN_REDIS_URL": "",  # empty means unset
        "UNRELATED": "ignored",
    })
    assert settings["BASE_URL"] == "https://jiayu.example.cn"
    assert settings["PROXY_COUNT"] == 2
    assert settings["DEBUG"] is True
    assert settings["LOGIN_MAX_FAILURES"] == 7
    assert settings["PLUGINS_DISABLED"] == "noticeboard"
    assert settings["REDIS_URL"] is None
    # Untouched settings keep their defaults.
    assert settings["SECRET_KEY"] == DEFAULT_SECRET_KEY
    assert settings["DEFAULT_LOCALE"] == "zh_Hans"
    assert settings["TESTING"] is False
    assert settings["MAX_UPLOAD_MB"] == 30


def test_defaults_without_environment():
    settings = config.load(environ={})
    assert {name: settings[name] for name in config.SETTINGS} == {
        name: default for name, (default, _parse) in config.SETTINGS.items()
    }


def test_explicit_settings_beat_the_environment():
    settings = config.load({"BASE_URL": "https://b.example"}, environ={"KAIMEN_BASE_URL": "https://a.example"})
    assert settings["BASE_URL"] == "https://b.example"


@pytest.mark.parametrize("value", ["0", "no", "false", "off"])
def test_boolean_settings_parse_false(value):
    assert config.load(environ={"KAIMEN_DEBUG": value})["DEBUG"] is False


def test_create_app_refuses_the_default_secret_outside_debug(clean_env, tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with pytest.raises(ConfigError, match="KAIMEN_SECRET_KEY"):
        create_app({"DATABASE_URL": url})
    with pytest.raises(ConfigError):
        create_app({"DATABASE_URL": url, "SECRET_KEY": ""})
    # Through the environment as well.
    clean_env.setenv("KAIMEN_SECRET_KEY", DEFAULT_SECRET_KEY)
    clean_env.setenv("KAIMEN_DATABASE_URL", url)
    with pytest.raises(ConfigError):
        create_app()


@pytest.mark.parametrize("flag", ["DEBUG", "TESTING"])
def test_default_secret_is_accepted_in_debug_and_testing(clean_env, tmp_path, flag):
    app = create_app({flag: True, "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"})
    assert app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY
    dispose(app)


@pytest.mark.parametrize("secret", ["short", "x" * 31, "0123456789abcdef0123456789abcde"])
def test_a_short_secret_is_refused_at_start_up_outside_debug(clean_env, tmp_path, secret):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with pytest.raises(ConfigError, match="shorter than 32 characters"):
        create_app({"DATABASE_URL": url, "SECRET_KEY": secret})
    clean_env.setenv("KAIMEN_SECRET_KEY", secret)
    clean_env.setenv("KAIMEN_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="KAIMEN_SECRET_KEY"):
        create_app()


def test_a_short_secret_is_accepted_in_debug(clean_env, tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    app = create_app({"DEBUG": True, "SECRET_KEY": "dev", "DATABASE_URL": url})
    assert app.config["SECRET_KEY"] == "dev"
    dispose(app)


def test_a_secret_of_32_characters_is_enough(clean_env, tmp_path):
    app = create_app({"SECRET_KEY": "x" * 32, "AUDIT_KEY": "y" * 32,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"})
    assert not app.config["DEBUG"]
    dispose(app)


def test_real_secret_is_accepted_in_production(clean_env, tmp_path):
    app = create_app({"SECRET_KEY": REAL_SECRET, "AUDIT_KEY": REAL_AUDIT_KEY,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"})
    assert not app.config["TESTING"]
    assert not app.config["DEBUG"]
    dispose(app)


def test_production_needs_its_own_audit_key(clean_env, tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    for audit_key in (None, "", "too-short", REAL_SECRET):
        with pytest.raises(ConfigError, match="KAIMEN_AUDIT_KEY"):
            create_app({"SECRET_KEY": REAL_SECRET, "AUDIT_KEY": audit_key, "DATABASE_URL": url})
    clean_env.setenv("KAIMEN_AUDIT_KEY", REAL_AUDIT_KEY)
    app = create_app({"SECRET_KEY": REAL_SECRET, "DATABASE_URL": url})
    assert app.config["AUDIT_KEY"] == REAL_AUDIT_KEY
    dispose(app)


def test_default_database_is_sqlite_in_the_instance_folder(clean_env):
    app = create_app({"TESTING": True})
    expected = f"sqlite:///{Path(app.instance_path) / 'kaimen.db'}"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected
    with app.app_context():
        assert db.engine.dialect.name == "sqlite"
        db.engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'k.db'}")
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
        db.engine.dispose()


def test_sqlite_foreign_keys_are_enforced(tmp_path):
    from kaimen.orgs import Unit

    app = make_app(f"sqlite:///{tmp_path / 'k.db'}")
    with app.app_context(), tenancy.system_scope():
        db.create_all()
        db.session.add(Unit(bureau_id=12345, slug="x", name="x", kind="department"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.engine.dispose()


def test_get_begins_deferred_and_post_begins_immediate(tmp_path):
    """A GET leaves the write lock free for others; a POST holds it from its first statement."""
    path = tmp_path / "k.db"
    app = make_app(f"sqlite:///{path}")

    def probe() -> str:
        db.session.execute(sa.text("SELECT 1"))  # opens this request's transaction
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return "free"
        except sqlite3.OperationalError as error:
            return f"locked: {error}"
        finally:
            other.close()

    app.add_url_rule("/probe-lock", "probe_lock", public(probe), methods=["GET", "POST"])
    client = app.test_client()
    assert client.get("/probe-lock").get_data(as_text=True) == "free"
    assert client.head("/probe-lock").status_code == 200
    posted = client.post("/probe-lock").get_data(as_text=True)
    assert posted.startswith("locked"), posted
    assert "database is locked" in posted
    # The lock ends with the request.
    assert client.get("/probe-lock").get_data(as_text=True) == "free"
    dispose(app)


def _failed_login(client, forwarded_for: str, attempt: int) -> int:
    response = client.post(
        "/login",
        data={"username": f"nobody{attempt}", "password": "wrong password"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


@pytest.mark.parametrize("proxies", [1, 0])
def test_limiter_keys_on_forwarded_client_behind_proxies(backend, fresh_database, proxies):
    app = make_app(fresh_database.url(backend), PROXY_COUNT=proxies, LOGIN_IP_LIMIT="2 per minute")
    with app.app_context():
        db.create_all()
    from kaimen.extensions import limiter

    limiter.reset()
    client = app.test_client()
    first = [_failed_login(client, "203.0.113.7", n) for n in range(3)]
    second = [_failed_login(client, "198.51.100.9", n) for n in range(3, 5)]
    if proxies:
        # Each forwarded client has its own budget of two failed attempts.
        assert first == [200, 200, 429]
        assert second == [200, 200]
    else:
        # Without trusted proxies every request comes from the proxy itself: one budget.
        assert first == [200, 200, 429]
        assert second == [429, 429]
    limiter.reset()
    dispose(app)


def test_production_hashes_passwords_with_scrypt(clean_env, tmp_path):
    """The suite hashes cheaply; a deployment that sets nothing gets scrypt."""
    assert config.load(environ={})["PASSWORD_METHOD"] == "scrypt"
    app = create_app({"SECRET_KEY": REAL_SECRET, "AUDIT_KEY": REAL_AUDIT_KEY,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"})
    from kaimen.auth.models import User

    with app.app_context():
        user = User(username="strong", display_name="Strong")
        user.set_password("a long enough passphrase")
        assert user.password_hash.startswith("scrypt:")
        assert user.check_password("a long enough passphrase")
    dispose(app)


def test_the_suite_uses_its_cheap_method(app):
    assert app.config["PASSWORD_METHOD"].startswith("pbkdf2:sha256:")


def test_make_run_serves_on_the_chosen_port_with_links_following_it():
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "run", "PORT=5001"], cwd=root, capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    serve = [line for line in dry.splitlines() if " run --host" in line]
    assert len(serve) == 1
    assert "--port 5001" in serve[0]
    assert "http://127.0.0.1:5001" in serve[0]


def test_a_replica_needs_postgresql_on_both_sides(clean_env, tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'k.db'}"
    postgres = "postgresql+psycopg://kaimen@127.0.0.1/kaimen"
    for primary, copy in ((sqlite, postgres), (postgres, sqlite), (None, postgres)):
        with pytest.raises(ConfigError, match="KAIMEN_DATABASE_REPLICA_URL"):
            create_app({"TESTING": True, "DATABASE_URL": primary, "DATABASE_REPLICA_URL": copy})
    for lag in (0, -5):
        with pytest.raises(ConfigError, match="KAIMEN_REPLICA_MAX_LAG_SECONDS"):
            create_app({"TESTING": True, "DATABASE_URL": postgres,
                        "DATABASE_REPLICA_URL": postgres, "REPLICA_MAX_LAG_SECONDS": lag})
    # without a replica there is one engine, and nothing routes
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite})
    assert replica.EXTENSION not in app.extensions
    dispose(app)


def test_a_built_app_is_left_out_of_full_collections_unless_told(clean_env, tmp_path):
    """What building the app allocated is frozen (``gc.freeze``), so the collector's full
    collections do not walk it on every request that triggers one; ``GC_FREEZE`` off
    leaves the collector alone."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    gc.unfreeze()
    try:
        dispose(create_app({"TESTING": True, "DATABASE_URL": url, "GC_FREEZE": False}))
        assert gc.get_freeze_count() == 0
        app = create_app({"TESTING": True, "DATABASE_URL": url})
        assert gc.get_freeze_count() > 0
        assert app.config["GC_FREEZE"] is True
        dispose(app)
    finally:
        gc.unfreeze()


def test_the_young_generation_waits_for_a_request_worth_of_objects(clean_env, tmp_path):
    """A view at a thousand schools makes tens of thousands of objects: the collector's
    youngest generation waits for ``GC_YOUNG`` of them (0 leaves Python's setting)."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        dispose(create_app({"TESTING": True, "DATABASE_URL": url, "GC_YOUNG": 0,
                            "GC_FREEZE": False}))
        assert gc.get_threshold() == (700, 10, 10)
        dispose(create_app({"TESTING": True, "DATABASE_URL": url, "GC_FREEZE": False}))
        assert gc.get_threshold() == (10_000, 10, 10)
    finally:
        gc.set_threshold(*before)
