"""The application factory, built from small named steps."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from flask import Flask, g
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config, figures, pagecache, plugins, replica, tenancy
from .auth.access import CORE_PERMISSIONS, user_can
from .auth.roles import ROLE_LABELS
from .extensions import babel, csrf, db, limiter, migrate
from .i18n import LOCALE_NAMES, dateformat, select_locale, select_timezone
from .pagination import page_url
from .safety import CONVERTERS, KaimenRequest, refuse_untrusted_host
from .sessions import KaimenSessionInterface

ROOT = Path(__file__).resolve().parents[2]


def create_app(settings: dict[str, Any] | None = None) -> Flask:
    """Create the Kaimen app; ``settings`` override ``KAIMEN_*`` variables and defaults."""
    instance = os.environ.get("KAIMEN_INSTANCE_PATH") or str(ROOT / "instance")
    app = Flask(__name__, instance_path=instance, instance_relative_config=True)
    app.request_class = KaimenRequest
    app.session_interface = KaimenSessionInterface()
    app.url_map.converters.update(CONVERTERS)  # before any route: ids in range, no NUL
    app.before_request(refuse_untrusted_host)  # before every other hook
    pagecache.install_front(app)  # a cached public page is served before anything loads
    configure(app, settings)
    configure_db(app)
    configure_babel(app)
    configure_security(app)
    load_plugins(app)
    register_core(app)
    register_cli(app)
    if app.config["GC_FREEZE"]:
        # What is alive now lives as long as the process; the collector's full collections
        # need not walk it again on every request that triggers one.
        gc.collect()
        gc.freeze()
    if app.config["GC_YOUNG"] > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(app.config["GC_YOUNG"], middle, old)
    return app


def configure(app: Flask, settings: dict[str, Any] | None) -> None:
    values = config.load(settings)
    config.check_secret(values)
    config.check_audit_key(values)
    config.check_replica(values)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    database_url = values["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / 'kaimen.db'}"
    production = not (values["DEBUG"] or values["TESTING"])
    app.config.update(
        values,
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(database_url),
        MAX_CONTENT_LENGTH=values["MAX_UPLOAD_MB"] * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production and values["BASE_URL"].startswith("https://"),
        REMEMBER_COOKIE_SECURE=production and values["BASE_URL"].startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        BABEL_DEFAULT_LOCALE=values["DEFAULT_LOCALE"],
        BABEL_DEFAULT_TIMEZONE=values["DEFAULT_TIMEZONE"],
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
        RATELIMIT_STORAGE_URI=values["REDIS_URL"] or "memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        WTF_CSRF_TIME_LIMIT=None,
        # decided here: the flask command resets DEBUG after the factory returns
        AUDIT_DEVELOPMENT_KEY=config.development_audit_key(values),
        # Any other Host header gets 400: it would otherwise reach redirects and links.
        TRUSTED_HOSTS=config.trusted_hosts(values),
    )
    if values["PROXY_COUNT"]:
        # Trust exactly that many proxies for the client address, so rate limits key on it.
        count = values["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    return {"pool_pre_ping": True}


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, emit BEGIN, so that it can be BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A deferred transaction that later writes fails with "database is locked" at once
    # instead of waiting; so anything that may write takes the write lock up front.
    # Safe requests (GET, HEAD) only read and may share the database with others.
    from flask import has_request_context, request

    if has_request_context() and request.method in ("GET", "HEAD", "OPTIONS"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def configure_db(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True
    )
    from . import audit, notify, orgs, pagecache, receipts  # noqa: F401 - the core's models
    from .auth import models  # noqa: F401
    from .classes import models as classes_models  # noqa: F401

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        tenancy.install_row_level_security(engine)
    replica_engine = replica.init_app(app)
    if replica_engine is not None:
        # The replica's transactions get the same kaimen.scope as the primary's.
        tenancy.install_row_level_security(replica_engine)


def configure_babel(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["dateformat"] = dateformat


def configure_security(app: Flask) -> None:
    from .auth import init_app as init_auth

    csrf.init_app(app)
    app.config["RATELIMIT_ENABLED"] = app.config["RATELIMIT_ENABLED"]
    limiter.init_app(app)
    limiter.request_filter(_reads_are_not_limited)
    init_auth(app)


def _reads_are_not_limited() -> bool:
    """Every rate limit in Kaimen guards a write: a GET or HEAD skips the limiter's work."""
    from flask import request

    from .extensions import READS

    return request.method in READS


def load_plugins(app: Flask) -> None:
    disabled = app.config["PLUGINS_DISABLED"].split(",")
    modules = plugins.discover(disabled)
    manager = plugins.make_manager(modules)
    permissions = {p.name: p for p in CORE_PERMISSIONS}
    for group in manager.hook.kaimen_permissions():
        for permission in group or []:
            if permission.name in permissions:
                raise RuntimeError(f"permission {permission.name} is defined twice")
            permissions[permission.name] = permission
    app.extensions["kaimen"] = plugins.KaimenState(
        manager=manager,
        plugins={m.NAME: m for m in modules},
        permissions=permissions,
        criteria=[c for group in manager.hook.kaimen_statement_criteria() for c in group or []],
    )
    plugins.register_blueprints(app, modules)


def register_core(app: Flask) -> None:
    from .admin.audit_log import bp as audit_bp
    from .admin.views import bp as admin_bp
    from .classes.views import bp as classes_bp
    from .web import context, errors
    from .web.views import bp as core_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(classes_bp)
    context.init_app(app)
    errors.init_app(app)
    pagecache.init_app(app)
    figures.init_app(app)
    app.context_processor(_template_globals)
    # Macros imported without context (``pager``) see only the environment's globals.
    app.jinja_env.globals["page_url"] = page_url


def _navigation() -> list[plugins.NavItem]:
    org = g.get("org")
    if org is None:
        return []
    groups = plugins.hook_for(org, "kaimen_navigation")(org=org, user=current_user)
    return sorted((item for group in groups for item in (group or [])), key=lambda i: i.order)


def _template_globals() -> dict[str, Any]:
    return {
        "navigation": _navigation,
        "can": lambda permission, org=None: user_can(current_user, permission, org or g.get("org")),
        "locale_names": LOCALE_NAMES,
        "current_org": g.get("org"),
        "current_locale": str(get_locale()),
        "role_labels": ROLE_LABELS,
        "page_url": page_url,
    }


def register_cli(app: Flask) -> None:
    from .cli import init_app as init_cli

    init_cli(app)
