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

**A replica that falls behind, or is down, is not used.** Each worker checks at most
every ``min(2, max lag / 4)`` seconds, on pooled DBAPI connections (no session, no
scope): the primary's WAL position, and how far the replica has replayed. It keeps the
primary's positions of the last ``KAIMEN_REPLICA_MAX_LAG_SECONDS`` (default 30): a
replica that has not yet replayed what the primary had written that long ago, or that
does not answer, is passed over, and bureau pages read from the primary until a later
check finds it caught up. A replica that stops during a request fails that request only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
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
WATCH = "kaimen.replica_watch"  # in app.extensions: the worker's LagWatch
log = logging.getLogger(__name__)


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
            and current_app.extensions[WATCH].usable(current_app)
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


def _ask(engine: sa.Engine, sql: str) -> Any:
    """Return one value from ``engine`` on a pooled DBAPI connection (no session, no scope)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        row = cursor.fetchone()
        cursor.close()
    finally:
        connection.close()
    return row[0] if row else None


class LagWatch:
    """Whether the replica may answer: it has replayed what the primary had written
    ``max_lag`` seconds ago, and it answers (see the module). One per worker."""

    def __init__(self, max_lag: float) -> None:
        self.max_lag = float(max_lag)
        self.every = min(2.0, self.max_lag / 4)
        self.positions: deque[tuple[float, Any]] = deque()  # (monotonic time, primary WAL)
        self.checked_at = float("-inf")
        self.answer = True
        self._lock = threading.Lock()

    def usable(self, app: Flask) -> bool:
        """Return whether the replica may answer now, checking again when it is time."""
        now = time.monotonic()
        if now - self.checked_at < self.every or not self._lock.acquire(blocking=False):
            return self.answer  # checked a moment ago, or being checked by another thread
        try:
            self.checked_at = now
            self.answer = self._check(app, now)
        finally:
            self._lock.release()
        return self.answer

    def _check(self, app: Flask, now: float) -> bool:
        primary, replica = app.extensions["sqlalchemy"].engine, engine_of(app)
        try:
            position = _ask(primary, "SELECT pg_current_wal_lsn() - '0/0'")
            replayed = _ask(replica, "SELECT pg_last_wal_replay_lsn() - '0/0'")
        except Exception as exc:  # noqa: BLE001 -- any failure means: read from the primary
            if self.answer:
                log.warning("read replica unavailable, reading from the primary: %s", exc)
            return False
        self.positions.append((now, position))
        horizon = now - self.max_lag
        while len(self.positions) > 1 and self.positions[1][0] <= horizon:
            self.positions.popleft()  # keep the newest position at or before the horizon
        then, wanted = self.positions[0]
        if replayed is None:  # not in recovery: not a replica at all
            answer = False
        else:
            answer = then > horizon or replayed >= wanted  # nothing that old known yet: fine
        if answer != self.answer:
            log.warning("read replica %s", "caught up: reading from it again" if answer else
                        f"more than {self.max_lag:g} s behind: reading from the primary")
        return answer


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
    app.extensions[WATCH] = LagWatch(app.config["REPLICA_MAX_LAG_SECONDS"])
    app.after_request(_stick_to_primary)
    return engine
