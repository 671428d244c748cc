"""The read replica: bureau-level pages read from it, everything else from the primary.

With ``KAIMEN_DATABASE_REPLICA_URL`` set (a PostgreSQL streaming replica of
``KAIMEN_DATABASE_URL``), the app gets a second engine (``replica.engine_of(app)``;
not a Flask-SQLAlchemy bind: no model lives only there, and a bind would add a
metadata that ``create_all`` and migrations then try to build on the replica),
and the one session of a request chooses its engine in ``RoutingSession.get_bind``:

- a **bureau read** (GET or HEAD of a ``/b/<bureau>/…`` page: the umbrella
  view, a plugin's bureau pages, the exports) reads from the replica;
- everything else reads and writes on the primary: every POST, school pages,
  the public pages, login, the CLI.

One session per request, one engine per request: the choice is made once, on
the request's first statement, and kept with the request. Row-level security is the
same on both engines (``tenancy.install_row_level_security`` is installed on
each), and the replica's roles and policies are the primary's, replicated.

**A bureau read never writes.** That holds with or without a replica: a flush,
or an INSERT, UPDATE or DELETE through the session, during a bureau GET raises
``ReadOnlyRequest`` (so the test suite catches a bureau page that writes, on
SQLite too), and the routing session refuses to hand the replica
engine to a flush. A write that bypassed both would fail on the replica itself
("cannot execute … in a read-only transaction").

**Replication lag: read your own writes.** A logged-in user whose request
wrote gets ``_primary_until`` in the session cookie, ``KAIMEN_REPLICA_STICKY_SECONDS``
(default 10) ahead: until then their bureau pages read from the primary, so
the page a bureau form redirects to shows what was just saved. Other users
may see the change a moment later, when the replica has replayed it.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context, request, session
from flask_login import current_user
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

EXTENSION = "kaimen.replica"  # in app.extensions: the replica's engine
PRIMARY_UNTIL = "_primary_until"  # in the session cookie: read from the primary until then
# Kept in the request's WSGI environ, not in g: an app context (and its g) may outlive a
# request, or serve several (tests, ``test_request_context``); the environ is the request's.
_READ_ONLY = "kaimen.read_only"  # this request is a bureau read
_ON_REPLICA = "kaimen.on_replica"  # and its statements go to the replica
_WROTE = "kaimen.wrote"  # this request flushed something
SAFE_METHODS = ("GET", "HEAD")


class ReadOnlyRequest(RuntimeError):
    """Raised when a bureau read (a GET of a ``/b/…`` page) tries to write."""


def is_bureau_read() -> bool:
    """Return whether this request is a GET or HEAD of a bureau-level page (decided once)."""
    if not has_request_context():
        return False
    decided = request.environ.get(_READ_ONLY)
    if decided is None:
        rule = request.url_rule
        decided = (
            request.method in SAFE_METHODS and rule is not None and rule.rule.startswith("/b/")
        )
        request.environ[_READ_ONLY] = decided
    return bool(decided)


def reads_from_replica() -> bool:
    """Return whether this request's statements go to the replica (decided once)."""
    if not has_request_context():
        return False
    decided = request.environ.get(_ON_REPLICA)
    if decided is None:
        decided = (
            is_bureau_read()
            and EXTENSION in current_app.extensions
            and not _reading_own_writes()
        )
        request.environ[_ON_REPLICA] = decided
    return bool(decided)


def _reading_own_writes() -> bool:
    until = session.get(PRIMARY_UNTIL)
    return isinstance(until, int) and time.time() < until


class RoutingSession(FlaskSession):
    """Flask-SQLAlchemy's session, sending a bureau read's statements to the replica."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: sa.Engine | sa.Connection | None = None,
        **kwargs: Any,
    ) -> sa.Engine | sa.Connection:
        engine = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if bind is not None or not reads_from_replica():
            return engine
        if engine is not self._db.engine:
            return engine  # a model of another bind keeps its own engine
        if self._flushing or isinstance(clause, UpdateBase):
            raise ReadOnlyRequest("a bureau page tried to write while reading from the replica")
        return engine_of(current_app)


def _is_write(session: Session) -> bool:
    return bool(
        session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    )


@event.listens_for(Session, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if is_bureau_read() and _is_write(session):
        raise ReadOnlyRequest(f"{request.method} {request.path} is a bureau read: it may not write")


@event.listens_for(Session, "after_flush")
def _note_write(_session: Session, _context: Any) -> None:
    if has_request_context():
        request.environ[_WROTE] = True


def check_statement(is_write: bool) -> None:
    """Raise when an INSERT, UPDATE or DELETE goes through the session of a bureau read;
    note it otherwise (a write without a flush, like the audit log's, starts the window too).

    Called from the one ``do_orm_execute`` listener (``kaimen.tenancy``).
    """
    if not (is_write and has_request_context()):
        return
    if is_bureau_read():
        raise ReadOnlyRequest(f"{request.method} {request.path} is a bureau read: it may not write")
    request.environ[_WROTE] = True


def _stick_to_primary(response: Any) -> Any:
    """After a logged-in user's write, read their bureau pages from the primary for a while."""
    if request.environ.get(_WROTE) and current_user.is_authenticated:
        session[PRIMARY_UNTIL] = int(time.time()) + current_app.config["REPLICA_STICKY_SECONDS"]
    return response


def engine_of(app: Flask) -> sa.Engine:
    """Return the replica's engine (only when ``KAIMEN_DATABASE_REPLICA_URL`` is set)."""
    return app.extensions[EXTENSION]  # type: ignore[no-any-return]


def init_app(app: Flask) -> sa.Engine | None:
    """Make the replica's engine, when one is configured; return it."""
    url = app.config.get("DATABASE_REPLICA_URL")
    if not url:
        return None
    # Both sides are PostgreSQL (``config.check_replica``): the primary's options suit it.
    engine = sa.create_engine(url, **app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    app.extensions[EXTENSION] = engine
    app.after_request(_stick_to_primary)
    return engine
