"""Flask extensions, created once here and bound to the app in ``create_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request
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
csrf = CSRFProtect()
cache = Cache()


class WriteLimiter(Limiter):
    """A limiter whose per-request check skips reads: every limit in Kaimen guards a write.

    Flask-Limiter's own ``request_filter`` would exempt a GET too, but only after the
    check has looked up every limit of the endpoint; this returns before, so the floor
    every page pays stays low. Limits applied by decorator still run their own check.
    """

    def init_app(self, app: Any) -> None:
        """Bind to ``app``, taking its ``RATELIMIT_KEY_PREFIX`` (Flask-Limiter would keep the
        first app's prefix for every later app of the process, as in the test suite)."""
        self._key_prefix = ""
        super().init_app(app)

    def _check_request_limit(self, callable_name: str | None = None,
                             in_middleware: bool = True) -> None:
        if in_middleware and request.method in READS:
            return
        super()._check_request_limit(callable_name, in_middleware)


READS = frozenset(("GET", "HEAD", "OPTIONS"))
# Every limit keys on the day's keyed hash of the sender's address, never the address.
limiter = WriteLimiter(key_func=address_key, default_limits=[])
