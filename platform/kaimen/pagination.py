"""The one pagination helper: every list page uses it and the ``pager`` macro.

Pages are numbered for the reader ("page 3 of 40") but the pager's links reach them by
keyset: a link carries the sort key of the last row shown (``after=``) or of the first
(``before=``) and the page's number (``page=``, a label only), and the next page is read with
``WHERE (sort key) < (that key)`` over the list's index instead of ``OFFSET``, which reads
and throws away every earlier row. Page 500 then costs what page 1 costs: one count over an
index (for "of M") and one seek. ``?page=N`` without a cursor still answers, for typed or
bookmarked links: the key of the row before page N is read by ``OFFSET`` over the sort keys
alone (an index-only scan where the list has an index of them), then the page by keyset.

The count ("of M") is kept in the cache under the versions of the schools in scope, which
every write bumps in its own transaction (``kaimen.pagecache``): turning the pages of one
list counts its rows once, and the first page after any write counts them afresh.

A statement is paged by keyset when it selects one mapped entity and its ``ORDER BY`` is
plain, non-nullable columns of that entity ending in a unique one (the id): every list in
Kaimen orders by ``(date, id)``. Any other statement is paged by ``OFFSET`` as before.

The cursor carries only sort-key values, never an id to fetch: the page is still read by the
list's own statement, under the request's scope, so a cursor taken from another school's row
only positions the reader within their own rows. A cursor that does not decode answers page 1.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, request, url_for
from sqlalchemy import orm
from sqlalchemy.sql import operators
from sqlalchemy.sql import util as sql_util

from . import figures, pagecache, tenancy
from .extensions import cache, db

log = logging.getLogger(__name__)

PER_PAGE = 25
_CURSOR_MAX = 400  # characters; a real cursor is a few dozen


@dataclass
class Page:
    """One page of a list: its rows, its number, and how to reach its neighbours."""

    items: list[Any]
    page: int
    per_page: int
    total: int
    has_prev: bool
    has_next: bool
    # Cursors for the pager's links (None: the link uses ?page= alone).
    prev_cursor: str | None = None
    next_cursor: str | None = None

    @property
    def pages(self) -> int:
        return max(-(-self.total // self.per_page), self.page) if self.total else 0

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def prev_url(self) -> str:
        # Page 1 is always the list's start, even when rows were added since.
        before = self.prev_cursor if self.page > 2 else None
        return page_url(max(self.page - 1, 1), before=before)

    @property
    def next_url(self) -> str:
        return page_url(self.page + 1, after=self.next_cursor)


@dataclass(frozen=True)
class _Key:
    column: Any  # a Column of the entity's table
    attribute: str  # its attribute on the entity
    descending: bool


def _keys(statement: Any) -> list[_Key] | None:
    """Return the statement's sort keys when it can be paged by keyset, else None."""
    descriptions = statement.column_descriptions
    if len(descriptions) != 1 or descriptions[0].get("entity") is None:
        return None
    if descriptions[0].get("expr") is not descriptions[0]["entity"]:
        return None  # a column of an entity, not the entity itself
    mapper = sa.inspect(descriptions[0]["entity"])
    keys: list[_Key] = []
    # Select keeps its ORDER BY here; there is no public accessor.
    for clause in statement._order_by_clauses:
        descending = False
        element = clause
        if isinstance(clause, sa.UnaryExpression):
            if clause.modifier is operators.desc_op:
                descending = True
            elif clause.modifier is not operators.asc_op:
                return None  # NULLS FIRST/LAST and the like
            element = clause.element
        if not isinstance(element, sa.Column) or element.nullable:
            return None
        try:
            prop = mapper.get_property_by_column(element)
        except orm.exc.UnmappedColumnError:
            return None
        keys.append(_Key(element, prop.key, descending))
    if not keys or not (keys[-1].column.primary_key or keys[-1].column.unique):
        return None
    return keys


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, (date, datetime)) else v for v in values]
    text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _int_limit(kind: Any) -> int:
    """Return the largest value an integer column holds (PostgreSQL refuses a larger one)."""
    if isinstance(kind, sa.BigInteger):
        return 2**63 - 1
    if isinstance(kind, sa.SmallInteger):
        return 2**15 - 1
    return 2**31 - 1


def _decode_value(key: _Key, value: Any) -> Any:
    kind = key.column.type.python_type
    if kind is datetime:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is None or parsed.tzinfo is not None:
            raise ValueError("not a naive date and time")
        return parsed
    if kind is date:
        if not isinstance(value, str):
            raise ValueError("not a date")
        return date.fromisoformat(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError("not a boolean")
        return value
    if kind is int:
        limit = _int_limit(key.column.type)
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > limit:
            raise ValueError("not an integer the column holds")
        return value
    if kind is str:
        if not isinstance(value, str) or "\x00" in value:
            raise ValueError("not a text")
        return value
    raise ValueError(f"no cursor for {kind}")


def _decode(keys: list[_Key], cursor: str) -> list[Any] | None:
    """Return the key values of ``cursor``, or None when it is not one of this list's."""
    if not cursor or len(cursor) > _CURSOR_MAX:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode())
        if not isinstance(values, list) or len(values) != len(keys):
            return None
        return [_decode_value(key, value) for key, value in zip(keys, values, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None


def _beyond(keys: list[_Key], values: list[Any], *, forward: bool) -> Any:
    """Return the condition "the row comes after (forward) or before the key, in list order".

    Written as ``k1 <= v1 AND (k1 < v1 OR (k1 = v1 AND k2 < v2) ...)`` (for a descending
    first key, forward), so the first key bounds an index range on every database and
    mixed directions work too.
    """
    def strictly(key: _Key, value: Any) -> Any:
        later = key.descending == forward  # forward in a descending list: smaller values
        return key.column < value if later else key.column > value

    def inclusive(key: _Key, value: Any) -> Any:
        later = key.descending == forward
        return key.column <= value if later else key.column >= value

    alternatives = []
    for index, (key, value) in enumerate(zip(keys, values, strict=True)):
        equal = [k.column == v for k, v in zip(keys[:index], values[:index], strict=True)]
        alternatives.append(sa.and_(*equal, strictly(key, value)))
    return sa.and_(inclusive(keys[0], values[0]), sa.or_(*alternatives))


def _count(statement: Any) -> int:
    """Return the number of rows of ``statement`` (a count over the list's index), with its
    execution options: a statement that lifts a criterion (``all_schools``, ``lift``) is
    counted with it lifted. A statement of one entity is counted as ``SELECT count(*) FROM
    entity WHERE …`` (no subquery of every column, which SQLite reads far more slowly).

    The count is kept in the cache under the versions of the schools in scope (see
    ``_count_key``), so turning the pages of one list counts its rows once, not per page.
    """
    options = statement.get_execution_options()
    descriptions = statement.column_descriptions
    froms = statement.get_final_froms()
    entity = descriptions[0].get("entity") if len(descriptions) == 1 else None
    if entity is not None and len(froms) == 1 and froms[0] is sa.inspect(entity).local_table:
        count = sa.select(sa.func.count()).select_from(entity)
        if statement.whereclause is not None:
            count = count.where(statement.whereclause)
    else:
        sub = statement.options(orm.lazyload("*")).order_by(None).subquery()
        count = sa.select(sa.func.count()).select_from(sub)
    count = count.execution_options(**options)
    key = _count_key(count, options)
    if key is not None:
        try:
            found = cache.get(key)
        except Exception:  # a cache that fails is a miss
            log.exception("pagination: could not read a count")
            found = None
        if isinstance(found, int):
            return found
    total = int(db.session.execute(count).scalar() or 0)
    if key is not None:
        try:
            cache.set(key, total)
        except Exception:  # the count was read all the same
            log.exception("pagination: could not store a count")
    return total


def _count_key(count: Any, options: dict[str, Any]) -> str | None:
    """Return the cache key of ``count``, or None when its result may not be kept.

    Every write to a school's rows bumps that school's version in the writer's transaction
    (``pagecache``), so a count of tenant-owned tables only, within the request's scope,
    is exact for as long as the versions of the schools in scope are what they were when
    it was read (and the database's epoch tells a new database's versions apart). The
    versions are read first: a write committed between the two reads leaves its count
    under the newer versions only. Not kept: counts in the system scope
    or across scopes, of tables that are not a school's (no version covers them), and
    while this session has writes of its own that are not committed yet.
    """
    if not current_app.config["PAGE_CACHE"] or options.get(tenancy.ALL_SCHOOLS_OPTION):
        return None
    scope = tenancy.current_scope()
    session = db.session()
    if scope is None or session.new or session.dirty or session.deleted \
            or session.info.get(pagecache.PENDING):
        return None
    tenant = tenancy.tenant_table_names()
    tables = {table.name for from_ in count.get_final_froms()
              for table in sql_util.find_tables(from_, include_joins=True,
                                                include_aliases=True)}
    if not tables or not tables <= tenant:
        return None
    compiled = count.compile(dialect=db.session.get_bind().dialect)
    text = repr((str(compiled), sorted(compiled.params.items()), sorted(scope),
                 sorted((k, repr(v)) for k, v in options.items()),
                 sorted(figures.versions(sorted(scope)).items())))
    return "count:" + hashlib.sha256(text.encode()).hexdigest()


def _offset_page(statement: Any, page: int, per_page: int, total: int,
                 keys: list[_Key] | None) -> Page:
    last = max(-(-total // per_page), 1)
    page = min(page, last)
    before = _key_before(statement, keys, (page - 1) * per_page) if keys and total else None
    if keys and before is not None:
        # The rows of the page, by keyset from the last key before it: OFFSET walked the
        # sort keys alone (an index), not every earlier row.
        items = list(db.session.scalars(statement.where(_beyond(keys, before, forward=True))
                                        .limit(per_page)).unique())
    else:
        items = list(db.session.scalars(statement.limit(per_page)
                                        .offset((page - 1) * per_page)).unique()) if total else []
    result = Page(items, page, per_page, total, has_prev=page > 1, has_next=page < last)
    return _with_cursors(result, keys)


def _key_before(statement: Any, keys: list[_Key], offset: int) -> list[Any] | None:
    """Return the sort key of the row just before ``offset`` (None on page 1, or when the
    statement reads more than its entity's table), read from the sort keys alone."""
    froms = statement.get_final_froms()
    if offset < 1 or len(froms) != 1 or froms[0] is not keys[0].column.table:
        return None
    seek = sa.select(*[k.column for k in keys]).select_from(froms[0])
    if statement.whereclause is not None:
        seek = seek.where(statement.whereclause)
    seek = (seek.order_by(*statement._order_by_clauses).offset(offset - 1).limit(1)
            .execution_options(**statement.get_execution_options()))
    row = db.session.execute(seek).first()
    return list(row) if row is not None else None


def _with_cursors(result: Page, keys: list[_Key] | None) -> Page:
    if keys and result.items:
        result.prev_cursor = _encode([getattr(result.items[0], k.attribute) for k in keys])
        result.next_cursor = _encode([getattr(result.items[-1], k.attribute) for k in keys])
    return result


def paginate(statement: Any, per_page: int = PER_PAGE) -> Page:
    """Return the page of ``statement`` named by ``?after=``/``?before=`` (the pager's
    keyset links) or ``?page=``, clamped to the pages there are.

    With a cursor, ``page=`` only labels the page ("page 500 of 4000"): the rows are those
    just after (or before) the cursor's key, whatever the number says.
    """
    keys = _keys(statement)
    args = request.args
    cursor_name = "after" if args.get("after") else "before" if args.get("before") else None
    values = _decode(keys, args[cursor_name]) if keys and cursor_name else None
    requested = args.get("page", 1, type=int) or 1
    # Bound the number so its OFFSET fits the database's integers; past the end: the last.
    number = min(max(requested, 1), 2**31 // per_page)
    total = _count(statement)
    if keys is None or values is None:
        return _offset_page(statement, number, per_page, total, keys)
    last = max(-(-total // per_page), 1)
    if cursor_name == "after":
        rows = list(db.session.scalars(statement.where(_beyond(keys, values, forward=True))
                                       .limit(per_page + 1)).unique())
        if not rows:  # past the end (rows were removed): the last page
            return _offset_page(statement, last, per_page, total, keys)
        result = Page(rows[:per_page], min(max(number, 2), last), per_page, total,
                      has_prev=True, has_next=len(rows) > per_page)
    else:
        reverse = [(k.column.asc() if k.descending else k.column.desc()) for k in keys]
        rows = list(db.session.scalars(
            statement.where(_beyond(keys, values, forward=False)).order_by(None)
            .order_by(*reverse).limit(per_page + 1)).unique())
        if len(rows) <= per_page:  # the first page: always the list's start
            return _offset_page(statement, 1, per_page, total, keys)
        rows = rows[:per_page]
        rows.reverse()
        result = Page(rows, min(max(number, 2), last), per_page, total,
                      has_prev=True, has_next=True)
    return _with_cursors(result, keys)


def page_url(number: int, *, after: str | None = None, before: str | None = None) -> str:
    """Return the current page's URL with its filters, ``page=number`` and a cursor."""
    args: dict[str, Any] = {k: v for k, v in request.args.items()
                            if k not in ("page", "after", "before")}
    args["page"] = number
    if after:
        args["after"] = after
    elif before:
        args["before"] = before
    return url_for(request.endpoint or "core.directory", **(request.view_args or {}), **args)
