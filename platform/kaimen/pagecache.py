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

A visitor who sends no cookie but the language choice (a parent arriving from the QR code
on the gate) is answered by ``PageFront``, a WSGI layer in front of Flask, before any
request object, session or hook exists: the page and its final headers, as they were
stored. Anyone else (a session cookie, even an anonymous one) goes through Flask, where
``_front`` looks the page up the same way after the session is read.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, current_app, g, request, request_finished, session
from flask_babel import get_locale
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_cookie

from . import memo
from .auth.access import access_markers
from .extensions import Model, cache
from .i18n import LOCALE_COOKIE, visitor_locale
from .receipts import new_token

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

EVERYWHERE = 0  # the version row every school's key also carries: bumped by wide changes
# The version row of what no school and no bureau owns: people and their roles. No public
# page shows them; a kept umbrella view does (names, who may open which list).
PEOPLE = -3
EPOCH = -2  # a random number per database (migration 0016): tells a new database's keys apart
HIT_HEADER = "X-Kaimen-Cache"
_KEY = "kaimen_page_key"
_MARK = "kaimen_cached_page"
_FORM_MARK = "kaimen_cached_form"


class SchoolVersion(Model):
    """How often a school's data has changed: part of every cached page's key."""

    __tablename__ = "school_version"

    # No foreign key: row 0 stands for every school, and a counter outlives nothing.
    school_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Bumped by every write but those of ``form_neutral`` models: a public form's key.
    form_version: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


_TABLE = cast(sa.Table, SchoolVersion.__table__)


# -- the version: bumped in the writer's transaction -----------------------------------


def _form_neutral(obj: Any) -> bool:
    """Whether ``obj``'s rows never show on a public form (an opinion, a receipt, an audit
    event): a model says so with ``form_neutral = True``."""
    return bool(getattr(obj, "form_neutral", False))


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
    if getattr(obj, "page_neutral", False):
        return set()
    if "bureau_id" in state.mapper.columns:
        # A bureau's own row (its box's time limits, holidays, campaign, terms) may show on
        # every school's pages; such writes are rare, so every page starts afresh.
        return None
    return {PEOPLE}  # a user, a role: on no public page, but on a bureau's kept view


def bump(connection: sa.Connection, school_ids: Iterable[int] | None,
         forms: bool = True) -> None:
    """Add one to the versions of ``school_ids`` (None: of every school), in this transaction;
    to their form versions too unless ``forms`` is False (only form-neutral rows changed)."""
    table = _TABLE
    ids = [EVERYWHERE] if school_ids is None else sorted(set(school_ids))
    if not ids:
        return
    step = 1 if forms else 0
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(
        [{"school_id": i, "version": 1, "form_version": step} for i in ids])
    connection.execute(statement.on_conflict_do_update(
        index_elements=[table.c.school_id],
        set_={"version": table.c.version + 1, "form_version": table.c.form_version + step},
    ))


def _bump_noted(connection: sa.Connection, schools: set[int], forms: set[int]) -> None:
    """Bump the noted ``schools``; the form versions only of ``forms`` (see ``PENDING``)."""
    if _EVERY in schools:
        bump(connection, None, forms=bool(forms))
        return
    if forms:
        bump(connection, forms)
    if schools - forms:
        bump(connection, schools - forms, forms=False)


# The version rows are locks every writer of a school shares: bumped at the first flush,
# a row was held to the end of the writer's transaction, and parents filing in one school
# queued on it (make bench, submissions). Flushes now note their schools in the session,
# and the versions are bumped once, just before the commit, in the same transaction.
PENDING = "kaimen_page_versions"
PENDING_FORMS = "kaimen_form_versions"  # the noted schools a row that may show on a form changed
_EVERY = -1  # noted in place of ids when a flush may have changed any school's pages
_COMMITTING = "kaimen_page_versions_committing"


@event.listens_for(Session, "after_flush")
def _note_after_flush(session: Session, _context: Any) -> None:
    """Note every school a flush wrote to; bump at once if the commit is already under way."""
    schools: set[int] = set()
    forms: set[int] = set()
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, SchoolVersion):
            continue
        changed = _changed_schools(obj)
        if changed is None:
            changed = {_EVERY}
        schools |= changed
        if not _form_neutral(obj):
            forms |= changed
    if not schools:
        return
    if session.info.get(_COMMITTING):
        _bump_noted(session.connection(), schools, forms)
    else:
        session.info.setdefault(PENDING, set()).update(schools)
        session.info.setdefault(PENDING_FORMS, set()).update(forms)


@event.listens_for(Session, "before_commit")
def _bump_at_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint's commit: the transaction's own commit bumps
    session.flush()
    session.info[_COMMITTING] = True  # a flush from here on bumps at once
    schools = session.info.pop(PENDING, None)
    forms = session.info.pop(PENDING_FORMS, set())
    if schools:
        _bump_noted(session.connection(), schools, forms)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None and not transaction.nested:
        session.info.pop(PENDING, None)  # rolled back: nothing was written
        session.info.pop(PENDING_FORMS, None)
        session.info.pop(_COMMITTING, None)


def touch(school_ids: Iterable[int] | None) -> None:
    """Bump ``school_ids``' versions (None: every school's) with this transaction.

    For a write the ORM's flush does not see (``sa.update``, ``sa.delete``): cached pages
    and kept umbrella figures (``kaimen.figures``) of those schools start afresh.
    """
    from .extensions import db

    session = db.session()
    ids = {_EVERY} if school_ids is None else set(school_ids)
    if not ids:
        return
    if session.info.get(_COMMITTING):
        bump(session.connection(), None if _EVERY in ids else ids)
    else:
        session.info.setdefault(PENDING, set()).update(ids)
        session.info.setdefault(PENDING_FORMS, set()).update(ids)


def versions(school_id: int, forms: bool = False) -> tuple[int, int]:
    """Return (every school's version, this school's version), in the request's transaction.

    With ``forms``, the school's form version instead: a kept form's key. A form-neutral
    write (a parent's opinion) leaves it alone, so the next parent's form is still the kept
    one; anything else changes it.
    """
    table = _TABLE
    own = table.c.form_version if forms else table.c.version
    rows = dict(_connection().execute(
        sa.select(table.c.school_id,
                  sa.case((table.c.school_id == EVERYWHERE, table.c.version), else_=own))
        .where(table.c.school_id.in_((EVERYWHERE, school_id)))
    ).all())
    return rows.get(EVERYWHERE, 0), rows.get(school_id, 0)


def people_mark() -> tuple[int, int] | None:
    """Return (the database's epoch, the people's version): what a figure read from users
    and role grants depends on. Read once per request, and afresh after a flush.

    None while this transaction holds writes to people it has not committed: their
    version is bumped at the commit, so nothing read now may be kept under it.
    """
    from .extensions import db

    pending = db.session.info.get(PENDING, ())
    if PEOPLE in pending or _EVERY in pending:
        return None

    def read() -> tuple[int, int]:
        table = _TABLE
        rows = dict(_connection().execute(
            sa.select(table.c.school_id, table.c.version)
            .where(table.c.school_id.in_((EPOCH, PEOPLE)))).all())
        return rows.get(EPOCH, 0), rows.get(PEOPLE, 0)

    return memo.once(("people mark",), read)


def _connection() -> sa.Connection:
    from .extensions import db

    return db.session.connection()


@functools.cache
def _lookup() -> sa.Select[Any]:
    """The statement of ``_school_and_versions``, built once (building it costs more)."""
    from .orgs import SCHOOL, Organisation

    school, bureau = Organisation.__table__.alias("school"), Organisation.__table__.alias("bureau")
    own, everywhere = _TABLE.alias("own"), _TABLE.alias("everywhere")
    return (
        sa.select(school.c.id, sa.func.coalesce(everywhere.c.version, 0),
                  sa.func.coalesce(own.c.version, 0), bureau.c.default_locale,
                  sa.func.coalesce(own.c.form_version, 0))
        .select_from(school)
        .outerjoin(bureau, bureau.c.id == school.c.parent_id)
        .outerjoin(own, own.c.school_id == school.c.id)
        .outerjoin(everywhere, everywhere.c.school_id == EVERYWHERE)
        .where(school.c.slug == sa.bindparam("slug"), school.c.kind == SCHOOL)
    )


@functools.cache
def _compiled(dialect: sa.Dialect) -> SQLCompiler:
    return cast(SQLCompiler, _lookup().compile(dialect=dialect))


def _school_and_versions(slug: str) -> tuple[int, int, int, str | None, int] | None:
    """Return a school's id, both versions, its bureau's locale and its form version in one
    query, or None.

    It asks a pooled DBAPI connection, as ``/healthz`` does: the ORM session's transaction
    (and on PostgreSQL its ``BEGIN`` with the scope setting) cost more than the answer, and
    neither table it reads is a school's (no row-level security applies). Sessions bound
    to one connection (the tests' outer transaction) are answered on that connection.
    """
    from .extensions import db

    bound = db.session.session_factory.kw.get("bind")
    if isinstance(bound, sa.Connection):  # sessions bound to one connection (as in tests)
        found = bound.execute(_lookup(), {"slug": slug}).first()
        return None if found is None else (found[0], found[1], found[2], found[3], found[4])
    engine = db.engine
    compiled = _compiled(engine.dialect)
    values = compiled.construct_params({"slug": slug}) or {}
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(str(compiled), tuple(values[name] for name in compiled.positiontup or ())
                       if compiled.positional else values)
        row = cursor.fetchone()
        cursor.close()
    finally:
        connection.close()  # back to the pool, rolled back
    return None if row is None else (row[0], row[1], row[2], row[3], row[4])


# -- the page: looked up before anything else, stored once the response is final --------


def cached_page(view: F) -> F:
    """Serve this public page to anonymous visitors from the cache (see the module)."""
    setattr(view, _MARK, True)
    return view


def cached_form(view: F) -> F:
    """Let the front answer this public form's first page from the parts ``cached_form_page``
    kept, with fresh tokens, before anything is loaded (see ``cached_form_page``)."""
    setattr(view, _FORM_MARK, True)
    return view


def _form_front_key(school_id: int, everywhere: int, own: int, locale: str, path: str) -> str:
    address = hashlib.sha256(path.encode()).hexdigest()[:32]
    return f"formfront:{school_id}:{everywhere}.{own}:{locale}:{address}"


def _front(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Look the page up before the request loads anything (a URL value preprocessor).

    Only a GET of a ``public`` view marked ``cached_page``, within a school, by a visitor
    with no user and no flashed message in their session. On a hit the page waits in
    ``g`` for ``_serve``; on a miss the key does, for ``_store``.
    """
    if request.method != "GET" or not values or "school" not in values or endpoint is None:
        return
    looked_up = request.environ.get(_FRONT_MISS)
    if looked_up is not None:  # the WSGI front looked this page up and found none
        g.kaimen_page_key = looked_up
        return
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return
    form = getattr(view, _FORM_MARK, False)
    if (not (form or getattr(view, _MARK, False)) or "public" not in access_markers(view)
            or not current_app.config["PAGE_CACHE"]
            or "_user_id" in session or "_flashes" in session or (form and request.args)):
        return
    found = _school_and_versions(values["school"])
    if found is None:
        return  # no such school: the ordinary path answers 404
    school_id, everywhere, own, bureau_locale, own_forms = found
    locale = visitor_locale(lambda: bureau_locale)
    if form:
        kept = cast(tuple[bytes, float] | None,
                    _get(_form_front_key(school_id, everywhere, own_forms, locale, request.path)))
        if kept is not None and time.time() < kept[1]:
            g.kaimen_page = (_fill(kept[0].decode()), [("Content-Type", _HTML)])
            g.kaimen_form_parts = "hit"
            g.kaimen_private = True  # it carries the visitor's tokens
        return
    key = _page_key(school_id, everywhere, own, locale, request.url)
    page = _get(key)
    if page is not None:
        g.kaimen_page = page
    else:
        g.kaimen_page_key = (key, locale)


def _page_key(school_id: int, everywhere: int, own: int, locale: str, url: str) -> str:
    """Return the cache key of the page at ``url`` (its query too): a stored page is its
    body and its final headers."""
    address = hashlib.sha256(url.encode()).hexdigest()[:32]
    return f"pagehit:{school_id}:{everywhere}.{own}:{locale}:{address}"


def _serve() -> Any:
    """Answer with the cached page, if ``_front`` found one (a before-request hook)."""
    page = g.pop("kaimen_page", None)
    if page is None:
        return None
    body, headers = page
    response = current_app.response_class(body, headers=headers)
    if "kaimen_form_parts" not in g:  # a form's parts are marked after the request
        response.headers[HIT_HEADER] = "hit"
    return response


def found_in_cache() -> bool:
    """Return whether this request will be answered from the cache (nothing to load)."""
    return "kaimen_page" in g


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
    key, locale = g.get(_KEY, (None, None))
    if key is None or HIT_HEADER in response.headers or not _storable(response):
        return
    if str(get_locale()) != locale:
        return  # the page was rendered in another language than its key says
    headers = [(name, value) for name, value in response.headers.items()
               if name.lower() not in _NOT_KEPT]
    try:
        cache.set(key, (response.get_data(), headers))
    except Exception:  # a cache that fails is a miss: the page was served all the same
        log.exception("page cache: could not store %s", key)


def _get(key: str) -> tuple[bytes, list[tuple[str, str]]] | None:
    try:
        return cache.get(key)  # type: ignore[no-any-return]
    except Exception:
        log.exception("page cache: could not read %s", key)
        return None


# -- a form's page: the same HTML for every visitor but for its one-time tokens -----------

_HOLE = "\x00kaimen-hole:{}\x00"  # cannot occur in rendered HTML: Jinja escapes no NUL in


def cached_form_page(render: Callable[[], str], form: Any, *parts: object,
                     until: datetime | None = None) -> str:
    """Return a public form's page, rendered once and reused with fresh tokens.

    A form's page cannot be a cached page: it carries the visitor's CSRF token and, with
    ``ReceiptTokenMixin``, a one-time submission token. Everything else is the same for
    every anonymous visitor of the school in a locale, so the HTML is kept with holes where
    the tokens were, and each visitor's tokens are filled in. ``parts`` are what else the
    page depends on (today's date when it shows a deadline); the school's version, as for
    cached pages, covers its data. Logged-in users, a flashed message, a form with errors
    or a request with a query string get ``render()`` as usual.

    ``until`` (naive UTC) is when ``parts`` stop holding (the end of the bureau's day for
    a date). With it, and the view marked ``@cached_form``, the parts are also kept for the
    front, which then answers the next visitor's first page before the school, its plugins
    or the form are loaded; the school's version in the key covers a plugin switched off.
    """
    school = g.get("school")
    if (school is None or request.method != "GET" or request.args or form.errors
            or not current_app.config["PAGE_CACHE"] or "_flashes" in session):
        return render()
    from .web.pages import logged_in

    if logged_in():
        return render()
    everywhere, own = versions(school.id, forms=True)
    address = hashlib.sha256(repr((request.path, parts)).encode()).hexdigest()[:32]
    key = f"form:{school.id}:{everywhere}.{own}:{get_locale()}:{address}"
    one_time = getattr(form, "token", None)
    page = _get(key)
    if page is not None:
        g.kaimen_form_parts = "hit"
        return _fill(page[0].decode(), str(one_time.data) if one_time is not None else None)
    html = render()
    g.kaimen_form_parts = "miss"
    template = html.replace(_csrf_token(), _HOLE.format("csrf"))
    if one_time is not None and one_time.data:
        template = template.replace(str(one_time.data), _HOLE.format("token"))
    try:
        cache.set(key, (template.encode(), "text/html"))
        if until is not None:
            front = _form_front_key(school.id, everywhere, own, str(get_locale()), request.path)
            ends = until.replace(tzinfo=UTC).timestamp()
            cache.set(front, (template.encode(), ends),
                      timeout=max(1, min(int(ends - time.time()),
                                         current_app.config["CACHE_SECONDS"])))
    except Exception:  # a cache that fails is a miss: the page was served all the same
        log.exception("page cache: could not store %s", key)
    return html


def _fill(template: str, token: str | None = None) -> str:
    """Return a kept form page with this visitor's CSRF token and a one-time token (fresh,
    unless ``token`` is given) in its holes."""
    html = template.replace(_HOLE.format("csrf"), _csrf_token())
    hole = _HOLE.format("token")
    if hole in html:
        html = html.replace(hole, token if token is not None else new_token())
    return html


def _csrf_token() -> str:
    from flask_wtf.csrf import generate_csrf

    return str(generate_csrf())


def _mark_form_parts(response: Any) -> Any:
    state = g.get("kaimen_form_parts")
    if state is not None:
        response.headers[HIT_HEADER] = f"parts-{state}"
    return response


_HTML = "text/html; charset=utf-8"
_NOT_KEPT = frozenset(("content-length", "date", "set-cookie", HIT_HEADER.lower()))
_FRONT_MISS = "kaimen.page_cache_miss"  # in the WSGI environ: the key the front looked up


class PageFront:
    """A WSGI layer that answers a kept public page before Flask makes a request of it.

    Only a GET of a ``cached_page`` public view within a school, from a trusted host, by
    a visitor who sends no cookie but the language choice: with no session there is no
    user and no flashed message. The key is the one ``_front`` builds (the school's
    versions, the visitor's locale, the address); the answer is the stored body with the
    headers the stored response ended with (``Vary``; the security headers join
    every response on its way out: ``kaimen.web.context.SecurityHeaders``). On a miss the
    key travels in the environ, so Flask's ``_front`` does not look it up again. Anything
    unexpected here lets Flask answer as if the front were not there.
    """

    def __init__(self, app: Flask, wsgi_app: Callable[..., Any]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._firsts: frozenset[str] | None = None

    def _first_segments(self) -> frozenset[str]:
        """The first path segments of the cached pages' rules (``s`` for ``/s/<school>/``),
        read once the app serves: every other request passes by without a look-up."""
        if self._firsts is None:
            views = self.app.view_functions
            self._firsts = frozenset(
                rule.rule.split("/", 2)[1] for rule in self.app.url_map.iter_rules()
                if getattr(views.get(rule.endpoint), _MARK, False))
        return self._firsts

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        first = (environ.get("PATH_INFO") or "")[1:].split("/", 1)[0]  # "s" of "/s/a1/"
        if (environ.get("REQUEST_METHOD") == "GET" and self.app.config["PAGE_CACHE"]
                and first in self._first_segments()):
            try:
                page = self._find(environ)
            except Exception:  # a cache or database that fails: Flask answers
                log.exception("page cache: the front could not look %s up",
                              environ.get("PATH_INFO"))
                page = None
            if page is not None:
                body, headers = page
                start_response("200 OK", [*headers, ("Content-Length", str(len(body))),
                                          (HIT_HEADER, "hit")])
                return [body]
        return self.wsgi_app(environ, start_response)

    def _find(self, environ: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]] | None:
        cookies = environ.get("HTTP_COOKIE")
        if cookies and any(name != LOCALE_COOKIE for name in parse_cookie(cookies)):
            return None  # a session (perhaps a user's), or a cookie we do not know
        app = self.app
        asked = app.request_class(environ)
        try:
            # Flask's own adapter: it refuses an untrusted Host (SecurityError) as Flask does
            endpoint, values = app.create_url_adapter(asked).match()  # type: ignore[union-attr]
        except HTTPException:
            return None  # an untrusted host, a redirect, no such page: Flask answers
        view = app.view_functions.get(str(endpoint))
        if (view is None or not getattr(view, _MARK, False) or "school" not in values
                or "public" not in access_markers(view)):
            return None
        with app.app_context():
            found = _school_and_versions(values["school"])
            if found is None:
                return None  # no such school: Flask answers 404
            school_id, everywhere, own, bureau_locale, _forms = found
            locale = visitor_locale(lambda: bureau_locale, asked)
            key = _page_key(school_id, everywhere, own, locale, asked.url)
            page = _get(key)
        if page is None:
            environ[_FRONT_MISS] = (key, locale)
        return page


def install_front(app: Flask) -> None:
    """Look pages up first: call right after the Host check is installed, before any hook
    (and before any WSGI middleware, such as ProxyFix, is put around the app)."""
    app.wsgi_app = PageFront(app, app.wsgi_app)  # type: ignore[method-assign]
    app.url_value_preprocessor(_front)
    app.before_request(_serve)


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
    app.after_request(_mark_form_parts)
