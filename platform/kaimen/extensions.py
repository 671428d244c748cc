"""Flask extensions, created once here and bound to the app in ``create_app``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from flask_babel import Babel
from flask_caching import Cache
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .addresses import address_key
from .replica import RoutingSession

# Every constraint gets a predictable name: Alembic's SQLite batch mode needs it.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every Kaimen model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SafeMethodsCSRF(CSRFProtect):
    """Flask-WTF's CSRF protection, deciding on the method first: a GET needs no token, and
    Flask-WTF would look up the view's exemptions on every request before asking."""

    def protect(self, apply_exemptions: bool = False) -> None:
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        super().protect(apply_exemptions=apply_exemptions)


# The routing session sends a bureau page's reads to the read replica, when one is set.
db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})

if TYPE_CHECKING:
    # Type checkers cannot see through ``db.Model``; to them it is the declarative base.
    class Model(Base):
        __abstract__ = True
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
babel = Babel()
csrf = SafeMethodsCSRF()
cache = Cache()


class WriteLimiter(Limiter):
    """A limiter whose per-request work skips what no limit looked at: every limit in Kaimen
    guards a write, or a few views that carry their own.

    Flask-Limiter's own ``request_filter`` would exempt a GET too, but only after the
    check has looked up every limit of the endpoint; this returns before, so the floor
    every page pays stays low. Limits applied by decorator still run their own check.
    Its after-request hook (conditional deductions, the ``X-RateLimit`` headers) and its
    teardown read the request's limiter context, making one on every request; they run
    only in a request where a check ran, since in any other they have nothing to do.
    """

    def init_app(self, app: Any) -> None:
        """Bind to ``app``, taking its ``RATELIMIT_KEY_PREFIX`` (Flask-Limiter would keep the
        first app's prefix for every later app of the process, as in the test suite)."""
        self._key_prefix = ""
        super().init_app(app)
        for hooks in (app.after_request_funcs, app.teardown_request_funcs):
            hooks[None] = [_when_checked(hook) if _is_ours(hook, self) else hook
                           for hook in hooks.get(None, [])]

    def _check_request_limit(self, callable_name: str | None = None,
                             in_middleware: bool = True) -> None:
        if in_middleware and request.method in READS:
            return
        request.environ[LIMIT_CHECKED] = True
        super()._check_request_limit(callable_name, in_middleware)


def _is_ours(hook: Any, limiter: Limiter) -> bool:
    """Whether ``hook`` is one of the hooks Flask-Limiter registered for ``limiter``."""
    return getattr(hook, "__self__", None) is limiter or (
        isinstance(hook, functools.partial) and hook.args[:1] == (limiter,))


def _when_checked(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run ``hook`` (given the response, or the error at teardown) only after a check."""
    def run(value: Any) -> Any:
        if request.environ.get(LIMIT_CHECKED):
            return hook(value)
        return value

    return run


READS = frozenset(("GET", "HEAD", "OPTIONS"))
# Marks the request (not ``g``: an app context may outlive many requests) where a limit ran.
LIMIT_CHECKED = "kaimen.limit_checked"
# Every limit keys on the day's keyed hash of the sender's address, never the address.
limiter = WriteLimiter(key_func=address_key, default_limits=[])
