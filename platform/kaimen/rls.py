"""PostgreSQL row-level security: the second line of tenant isolation.

The first line is the ORM scoping in ``kaimen.tenancy``. This one lives in the
database: every table of a ``TenantOwned`` model gets a policy that lets a
transaction see and write only the rows of the schools in the per-transaction
setting ``kaimen.scope``, which ``kaimen.tenancy`` sets with
``set_config('kaimen.scope', …, true)``:

- ``'all'``: the system scope (CLI commands, provisioning) or a statement
  marked with ``tenancy.all_schools``;
- ``'3,7'``: the school ids in the request's scope, sorted, comma-separated;
- ``''`` or never set: nothing (fail closed).

``FORCE ROW LEVEL SECURITY`` binds the tables' owner too; superusers always
bypass row-level security, so the app must connect as a role that is not one.

The migration ``0004_row_level_security`` (and each later one that adds a
school-owned table) carries a copy of this DDL and its own list of tables (a
migration must not import the app); a test checks that they agree with the
models. ``0015_rls_initplan`` moved every policed table to an expression that reads
the setting once per statement; ``0017_rls_hashed_scope`` to the present one, which also
looks each row's school up in a hash table of the scope instead of searching the list.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import sqlalchemy as sa

SETTING = "kaimen.scope"
EVERY_SCHOOL = "all"
POLICY = "kaimen_school_scope"

# CASE, not OR: PostgreSQL does not promise to evaluate OR left to right, and
# 'all'::int[] would raise. The CASE's setting is a scalar subquery, so PostgreSQL
# evaluates it once per statement (an InitPlan) instead of once per row; a bare
# current_setting() is re-evaluated for every row although it is STABLE. The school ids
# are an uncorrelated IN-subquery, which PostgreSQL runs once and keeps as a hash table
# (EXPLAIN: "hashed SubPlan"): a row costs one probe. 0015's ``school_id = ANY (array)``
# read the array once too, but as a parameter, not a constant, which PostgreSQL does not
# hash: every row searched it from the start (a count of 500,000 rows in a 1,000-school
# scope took seconds; README, Performance). The ids come from unnest() in FROM, not in the
# select list: a select-list set-returning function makes the subquery a ProjectSet,
# which PostgreSQL keeps out of parallel plans, and with it every scan of a policed table.
# The subquery turns 'all' and '' into NULL before the cast: a parallel plan's Gather
# evaluates every InitPlan up front, even one the CASE never reaches, and 'all'::int[]
# would raise. In the ELSE branch the setting is neither unset, '' nor 'all', so the
# nullif()s change nothing there. ``x IN (SELECT … FROM unnest(a))`` answers as
# ``x = ANY (a)`` for every x and a: true on a match; NULL for a NULL x unless a is empty;
# false otherwise; a malformed setting raises the same cast error. Migration 0017 restores
# 0015's form on downgrade; tests/test_rls_initplan.py compares the two value by value.
SCOPE_CHECK = (
    "CASE (SELECT coalesce(current_setting('kaimen.scope', true), '')) "
    "WHEN 'all' THEN true "
    "WHEN '' THEN false "
    "ELSE school_id IN (SELECT scope.id FROM unnest(string_to_array("
    "nullif(nullif(current_setting('kaimen.scope', true), ''), 'all'), ',')::int[]) "
    "AS scope(id)) "
    "END"
)


def enable_statements(table: str) -> list[str]:
    """Return the DDL that puts ``table`` under the school-scope policy (idempotent)."""
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {POLICY} ON "{table}"',
        f'CREATE POLICY {POLICY} ON "{table}" USING ({SCOPE_CHECK}) WITH CHECK ({SCOPE_CHECK})',
    ]


def disable_statements(table: str) -> list[str]:
    """Return the DDL that takes ``table`` out from under the policy."""
    return [
        f'DROP POLICY IF EXISTS {POLICY} ON "{table}"',
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
    ]


@functools.lru_cache(maxsize=256)
def scope_value(scope: frozenset[int] | None) -> str:
    """Return the ``kaimen.scope`` value for a tenancy scope (None is the system scope).

    Kept per scope: every statement of a request asks (a bureau's thousand schools were
    sorted and joined some thirty times a page), and a frozenset keeps its own hash.
    """
    if scope is None:
        return EVERY_SCHOOL
    return ",".join(str(school_id) for school_id in sorted(scope))


def enable(connection: sa.Connection, tables: Iterable[str]) -> None:
    """Put ``tables`` under the policy; nothing on a database other than PostgreSQL."""
    if connection.dialect.name != "postgresql":
        return
    for table in sorted(tables):
        for statement in enable_statements(table):
            connection.exec_driver_sql(statement)


def policed_tables(connection: sa.Connection) -> set[str]:
    """Return the tables that carry the policy with row-level security enabled and forced."""
    rows = connection.execute(sa.text(
        "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
        "WHERE p.polname = :policy AND c.relrowsecurity AND c.relforcerowsecurity"
    ), {"policy": POLICY})
    return {row[0] for row in rows}
