"""Tenant isolation: one scope per request, applied to every ORM statement.

The scope is the set of school ids the current request may touch. It is set
once per request (from the URL and the user's grants, see ``kaimen.web``) or
once per CLI command (``system_scope``), and applied to every ORM SELECT,
UPDATE and DELETE of a ``TenantOwned`` model through ``do_orm_execute`` and
``with_loader_criteria``. No scope set means an error, never unfiltered rows.

Crossing the scope is explicit and greppable: ``all_schools(statement)``.
Raw SQL (``text()``, Core statements) bypasses all of this, so tenant data is
never read with raw SQL.

On PostgreSQL a second line stands behind the first: row-level security (see
``kaimen.rls``). Before every statement on the app's engine, the current
transaction's ``kaimen.scope`` setting is made to match the scope here ('all'
for the system scope and for a statement marked ``all_schools``, the sorted
school ids otherwise, '' when unset), with ``set_config(..., true)``: local to
the transaction, so a pooled connection never carries a scope into the next
one. The setting is only sent when it changes within a transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.sql import util as sql_util

from . import replica, rls
from .idlists import Among, IdList

ALL_SCHOOLS_OPTION = "kaimen_all_schools"
_UNSET = object()
_EVERY_SCHOOL = None  # the system scope: CLI commands, provisioning, demo data

S = TypeVar("S", bound=sa.sql.Executable)


class ScopeError(RuntimeError):
    """Raised when tenant data is touched without a scope, or outside it."""


class TenantOwned:
    """Mixin for every model that belongs to one school.

    A bureau may own rows of such a model too (the bureau's own rectification plan):
    ``school_id`` then holds the bureau's id, and the bureau's pages put it in scope.
    """

    @declared_attr
    def school_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr receives the class
        return mapped_column(
            sa.ForeignKey("organisation.id"), index=True, nullable=False, default=_stamp_school_id
        )


def set_scope(school_ids: Iterable[int]) -> None:
    """Set the schools this request may touch (an empty set touches none)."""
    g.kaimen_scope = frozenset(school_ids)


@contextmanager
def system_scope() -> Iterator[None]:
    """Let a CLI command or provisioning step touch every school."""
    previous = g.get("kaimen_scope", _UNSET)
    g.kaimen_scope = _EVERY_SCHOOL
    try:
        yield
    finally:
        if previous is _UNSET:
            g.pop("kaimen_scope", None)
        else:
            g.kaimen_scope = previous


@contextmanager
def narrowed(left_out: Iterable[int]) -> Iterator[None]:
    """Within, the request's scope lacks ``left_out``: it can only shrink. The system scope
    is left as it is (it lists no school to take out).

    The umbrella recounts one school of a thousand in scope; on PostgreSQL every row a
    statement reads is checked against the scope, so a statement under a 1,000-school
    scope cost four times what it cost under that school's. Nothing read within may be
    kept past it under a key that does not name the scope (``kaimen.memo``).
    """
    scope = g.get("kaimen_scope", _UNSET) if has_app_context() else _UNSET
    if scope is _UNSET or scope is _EVERY_SCHOOL:  # unset: every tenant read fails anyway
        yield
        return
    g.kaimen_scope = scope - frozenset(left_out)  # type: ignore[operator]
    try:
        yield
    finally:
        g.kaimen_scope = scope


def current_scope() -> frozenset[int] | None:
    """Return the school ids in scope, or None for the system scope; raise when unset."""
    scope = g.get("kaimen_scope", _UNSET) if has_app_context() else _UNSET
    if scope is _UNSET:
        raise ScopeError("tenant data touched with no scope set")
    return scope  # type: ignore[return-value]


def all_schools(statement: S) -> S:
    """Mark ``statement`` as deliberately crossing the request's scope."""
    return statement.execution_options(**{ALL_SCHOOLS_OPTION: True})


def _stamp_school_id() -> int:
    scope = current_scope()
    if scope is None or len(scope) != 1:
        raise ScopeError("a new tenant-owned row needs an explicit school_id outside one school")
    (school_id,) = scope
    return school_id


def _tenant_tables() -> set[sa.Table]:
    tables: set[sa.Table] = set()
    pending = list(TenantOwned.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = getattr(cls, "__table__", None)
        if isinstance(table, sa.Table):
            tables.add(table)
    return tables


def tenant_table_names() -> set[str]:
    """Return the names of the tables of every ``TenantOwned`` model loaded."""
    return {table.name for table in _tenant_tables()}


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    if any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers):
        return True
    # ``select(func.count()).select_from(Model)`` names the model only in its FROM clause.
    statement = state.statement
    if not isinstance(statement, sa.Select):
        return False
    tenant = _tenant_tables()
    return any(
        table in tenant
        for from_ in statement.get_final_froms()
        for table in sql_util.find_tables(from_, include_joins=True, include_aliases=True)
    )


@event.listens_for(Session, "do_orm_execute")
def _apply_criteria(state: ORMExecuteState) -> None:
    """Put the tenancy scope, and every plugin's statement criteria, on the statement.

    The one ``do_orm_execute`` listener of the process: plugins add criteria through the
    ``kaimen_statement_criteria`` hook instead of listening themselves.
    """
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria were propagated from the statement that loaded the parent
    # A bureau page's GET may not write (it may be reading from the replica).
    replica.check_statement(state.is_insert or state.is_update or state.is_delete)
    if (state.is_insert or state.is_update or state.is_delete) and has_app_context():
        _bump_versions(state)
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if not has_app_context():
        if _touches_tenant_data(state):
            raise ScopeError("tenant data touched outside an app context")
        return
    options = state.execution_options
    extra = [
        with_loader_criteria(c.entity, c.condition, include_aliases=True)
        for c in current_app.extensions["kaimen"].criteria
        if not options.get(c.lifted_by)
    ]
    scope = _scope_criteria(state)
    if scope is not None:
        extra.append(scope)
    if extra:
        state.statement = state.statement.options(*extra)


def _bump_versions(state: ORMExecuteState) -> None:
    """An ORM bulk INSERT, UPDATE or DELETE skips the flush: bump the versions here."""
    if not any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers):
        return
    from . import pagecache

    scope = g.get("kaimen_scope", _UNSET)
    crossing = state.execution_options.get(ALL_SCHOOLS_OPTION)
    schools = None if crossing or scope is _UNSET or scope is _EVERY_SCHOOL else scope
    pagecache.bump(state.session.connection(), schools)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=256)
def _ordered(scope: frozenset[int]) -> tuple[int, ...]:
    """Return the scope's schools in order, once per scope (every statement asks)."""
    return tuple(sorted(scope))


def _scope_criteria(state: ORMExecuteState) -> Any:
    if state.execution_options.get(ALL_SCHOOLS_OPTION):
        return None
    scope = g.get("kaimen_scope", _UNSET)
    if scope is _UNSET:
        if _touches_tenant_data(state):
            raise ScopeError("tenant data touched with no scope set")
        return None
    if scope is _EVERY_SCHOOL:
        return None
    # With a scope set, the criteria go on every statement: on one that reads no
    # tenant-owned model they do nothing, and that is cheaper than finding out.
    # The schools go as one bound value (``among``), made here, outside the lambda: the
    # criteria's SQL is cached by the lambda's code and takes each request's value from
    # this parameter. A thousand-school scope was a thousand parameters on every statement.
    school_ids = _ordered(scope)  # type: ignore[arg-type]
    if len(school_ids) == 1:
        one = sa.bindparam(None, school_ids[0], type_=sa.Integer())
        return with_loader_criteria(TenantOwned, lambda cls: cls.school_id == one,
                                    include_aliases=True)
    many = sa.bindparam(None, school_ids, type_=IdList())
    return with_loader_criteria(TenantOwned, lambda cls: Among(cls.school_id, many),
                                include_aliases=True)


@event.listens_for(Session, "before_flush")
def _check_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    """Refuse to write a tenant-owned row into a school outside the scope."""
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantOwned):
            continue
        scope = current_scope()
        if scope is _EVERY_SCHOOL:
            return
        school_id = obj.school_id  # type: ignore[attr-defined]
        if school_id is None:
            school_id = obj.school_id = _stamp_school_id()  # type: ignore[attr-defined]
        if school_id not in scope:
            raise ScopeError(f"{type(obj).__name__} of school {school_id} is outside the scope")


# -- the second line: PostgreSQL row-level security -----------------------------------

_RLS_SENT = "kaimen_rls_scope"  # in the DBAPI connection's info: what this transaction has
_SAVEPOINT_STATEMENTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def _rls_value(crossing: bool) -> str:
    if crossing:
        return rls.EVERY_SCHOOL
    scope = g.get("kaimen_scope", _UNSET) if has_app_context() else _UNSET
    if scope is _UNSET:
        return ""  # fail closed: the policies let no row through
    return rls.scope_value(scope)  # type: ignore[arg-type]


def _send_scope(
    connection: sa.Connection, cursor: Any, statement: str, _parameters: Any,
    context: Any, _executemany: bool,
) -> None:
    if statement.startswith(_SAVEPOINT_STATEMENTS):
        # They read no rows; and ``rollback_savepoint`` fires before its ROLLBACK TO,
        # when the transaction may be aborted and would refuse ``set_config``.
        return
    options = context.execution_options if context is not None else {}
    value = _rls_value(bool(options.get(ALL_SCHOOLS_OPTION)))
    if connection.info.get(_RLS_SENT) == value:
        return
    # A cursor of its own, on the same DBAPI connection and so in the same transaction.
    setter = cursor.connection.cursor()
    try:
        setter.execute("SELECT set_config(%s, %s, true)", (rls.SETTING, value))
    finally:
        setter.close()
    connection.info[_RLS_SENT] = value


def _forget_scope(connection: sa.Connection, *_args: Any) -> None:
    """The transaction (or savepoint) ended: what it had set is gone, or may be."""
    connection.info.pop(_RLS_SENT, None)


def _forget_scope_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info.pop(_RLS_SENT, None)


def install_row_level_security(engine: sa.Engine) -> None:
    """Keep ``kaimen.scope`` in step with the scope on a PostgreSQL engine."""
    if engine.dialect.name != "postgresql":
        return
    event.listen(engine, "before_cursor_execute", _send_scope)
    for name in ("begin", "commit", "rollback", "rollback_savepoint"):
        event.listen(engine, name, _forget_scope)
    event.listen(engine.pool, "checkin", _forget_scope_on_checkin)
