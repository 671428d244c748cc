"""Cached public pages: one decision, one version per school, bumped by every write.

A view marked ``@cached_page`` (next to ``@public``) is served from the cache to an
anonymous visitor when the same page was rendered before for the same school, locale,
address and query, and the school's data has not changed since. The key carries the
school's version from ``school_version``; every flush that inserts, updates or deletes a
row of a school bumps that school's version in the same transaction, so a published
pledge or a closed case shows at once. ``CACHE_SECONDS`` is a backstop for what no flush
sees (raw SQL).

A page is stored only when all of these hold, checked on the final response:

- the request was a GET of a ``public`` view, by nobody logged in, with no flashed
  message waiting in its session;
- the answer is a 200, not streamed, sets no cookie (no session, no language choice);
- the view did not call ``private()`` and no CSRF token was generated while rendering it
  (a token belongs to one visitor's session).

Redis holds the pages when ``KAIMEN_REDIS_URL`` is set, shared by every worker; otherwise
each process keeps its own. A cache that fails is a miss, never an error page.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, current_app, g, request, request_finished, session
from flask_babel import get_locale
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from .auth.access import access_markers
from .extensions import Model, cache

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

EVERYWHERE = 0  # the version row every school's key also carries: bumped by wide changes
HIT_HEADER = "X-Kaimen-Cache"
_KEY = "kaimen_page_key"


class SchoolVersion(Model):
    """How often a school's data has changed: part of every cached page's key."""

    __tablename__ = "school_version"

    # No foreign key: row 0 stands for every school, and a counter outlives nothing.
    school_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)


_TABLE = cast(sa.Table, SchoolVersion.__table__)


# -- the version: bumped in the writer's transaction -----------------------------------


def _changed_schools(obj: Any) -> set[int] | None:
    """Return the schools whose public pages ``obj`` may change; None for all of them."""
    from .orgs import SCHOOL, Organisation
    from .plugins import PluginSetting

    state = sa.inspect(obj)
    if isinstance(obj, Organisation):
        return {obj.id} if state.dict.get("kind") == SCHOOL else None
    if isinstance(obj, PluginSetting):
        return {state.dict["org_id"]} if "org_id" in state.dict else None
    if "school_id" in state.dict:
        school_id = state.dict["school_id"]
        return set() if school_id is None else {school_id}
    if "school_id" in state.mapper.columns:
        return None  # expired: we cannot tell which school without a query, so every one
    return set()


def bump(connection: sa.Connection, school_ids: Iterable[int] | None) -> None:
    """Add one to the versions of ``school_ids`` (None: of every school), in this transaction."""
    table = _TABLE
    ids = [EVERYWHERE] if school_ids is None else sorted(set(school_ids))
    if not ids:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values([{"school_id": i, "version": 1} for i in ids])
    connection.execute(statement.on_conflict_do_update(
        index_elements=[table.c.school_id], set_={"version": table.c.version + 1}
    ))


@event.listens_for(Session, "after_flush")
def _bump_after_flush(session: Session, _context: Any) -> None:
    """Bump the version of every school a flush wrote to (the flush's own transaction)."""
    schools: set[int] = set()
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, SchoolVersion):
            continue
        changed = _changed_schools(obj)
        if changed is None:
            bump(session.connection(), None)
            return
        schools |= changed
    if schools:
        bump(session.connection(), schools)


def versions(school_id: int) -> tuple[int, int]:
    """Return (every school's, this school's) version, in the request's transaction."""
    table = _TABLE
    rows = dict(db_connection().execute(
        sa.select(table.c.school_id, table.c.version)
        .where(table.c.school_id.in_((EVERYWHERE, school_id)))
    ).all())
    return rows.get(EVERYWHERE, 0), rows.get(school_id, 0)


def db_connection() -> sa.Connection:
    from .extensions import db

    return db.session.connection()


# -- the page: looked up in the view, stored once the response is final -----------------


def _view_is_public() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and "public" in access_markers(view)


def _page_key() -> str | None:
    """Return the cache key of this request's page, or None when it may not be cached."""
    from .web.pages import logged_in

    school = g.get("school")
    if (request.method != "GET" or school is None or not current_app.config["PAGE_CACHE"]
            or not _view_is_public() or "_flashes" in session or logged_in()):
        return None
    everywhere, own = versions(school.id)
    address = hashlib.sha256(request.url.encode()).hexdigest()[:32]
    return f"page:{school.id}:{everywhere}.{own}:{get_locale()}:{address}"


def cached_page(view: F) -> F:
    """Serve this public page to anonymous visitors from the cache (see the module)."""

    @functools.wraps(view)
    def cached(*args: Any, **kwargs: Any) -> Any:
        key = _page_key()
        if key is not None:
            page = _get(key)
            if page is not None:
                body, mimetype = page
                response = current_app.response_class(body, mimetype=mimetype)
                response.headers[HIT_HEADER] = "hit"
                return response
            g.setdefault(_KEY, key)
        return view(*args, **kwargs)

    return cached  # type: ignore[return-value]


def _storable(response: Any) -> bool:
    from .web.pages import logged_in

    return (
        response.status_code == 200
        and not response.is_streamed
        and "Set-Cookie" not in response.headers
        and not g.get("kaimen_private")
        and current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token") not in g
        and not logged_in()
    )


def _store(sender: Flask, response: Any, **_extra: Any) -> None:
    key = g.get(_KEY)
    if key is None or HIT_HEADER in response.headers or not _storable(response):
        return
    try:
        cache.set(key, (response.get_data(), response.mimetype))
    except Exception:  # a cache that fails is a miss: the page was served all the same
        log.exception("page cache: could not store %s", key)


def _get(key: str) -> tuple[bytes, str] | None:
    try:
        return cache.get(key)  # type: ignore[no-any-return]
    except Exception:
        log.exception("page cache: could not read %s", key)
        return None


def init_app(app: Flask) -> None:
    redis = app.config["REDIS_URL"]
    cache.init_app(app, config={
        "CACHE_TYPE": "RedisCache" if redis else "SimpleCache",
        "CACHE_REDIS_URL": redis,
        "CACHE_KEY_PREFIX": app.config.get("CACHE_KEY_PREFIX", "kaimen:"),
        "CACHE_DEFAULT_TIMEOUT": app.config["CACHE_SECONDS"],
        "CACHE_THRESHOLD": 5000,  # pages per process, without Redis
    })
    request_finished.connect(_store, app)
