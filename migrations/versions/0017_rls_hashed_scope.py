"""row-level security: look each row's school up in a hash table of the scope

Revision ID: 0017_rls_hashed_scope
Revises: 0016_figures_epoch
Create Date: 2026-12-02 14:00:00

A no-op on SQLite. On PostgreSQL, the policy of 0015 on every table that carries it
(found in ``pg_policy`` by name, as ``kaimen.rls.policed_tables`` finds them, so a
plugin's table is included) is dropped and created again with the same meaning, its
list of schools written as an IN-subquery on ``unnest()`` instead of ``= ANY`` of an
array: PostgreSQL builds a hash table of the scope once per statement (a hashed SubPlan)
and probes it for each row, where it searched the array from the start for each row (with
a 1,000-school scope, seconds for a count of 500,000 rows). Both in one transaction, so no
table is ever without its policy. ``downgrade`` puts back 0015's expression. SCOPE_CHECK is a copy of
``kaimen.rls`` (a migration must not import the app); tests/test_rls_initplan.py checks
that it agrees and that OLD_SCOPE_CHECK and SCOPE_CHECK give the same answer for every
kind of setting.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_rls_hashed_scope'
down_revision = '0016_figures_epoch'
branch_labels = None
depends_on = None

POLICY = 'kaimen_school_scope'
SCOPE_CHECK = (
    "CASE (SELECT coalesce(current_setting('kaimen.scope', true), '')) "
    "WHEN 'all' THEN true "
    "WHEN '' THEN false "
    "ELSE school_id IN (SELECT scope.id FROM unnest(string_to_array("
    "nullif(nullif(current_setting('kaimen.scope', true), ''), 'all'), ',')::int[]) "
    "AS scope(id)) "
    "END"
)
# The expression of 0015: the setting read once per statement, the array searched per row.
OLD_SCOPE_CHECK = (
    "CASE (SELECT coalesce(current_setting('kaimen.scope', true), '')) "
    "WHEN 'all' THEN true "
    "WHEN '' THEN false "
    "ELSE school_id = ANY ((SELECT string_to_array("
    "nullif(nullif(current_setting('kaimen.scope', true), ''), 'all'), ',')::int[])::int[]) "
    "END"
)


def _policed_tables():
    """The tables that carry the policy, with their schema, in a stable order."""
    rows = op.get_bind().execute(sa.text(
        "SELECT n.nspname, c.relname FROM pg_policy p "
        "JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE p.polname = :policy ORDER BY n.nspname, c.relname"
    ), {"policy": POLICY})
    return [(schema, table) for schema, table in rows]


def _replace_policies(check):
    if op.get_bind().dialect.name != 'postgresql':
        return
    for schema, table in _policed_tables():
        name = '.'.join('"' + part.replace('"', '""') + '"' for part in (schema, table))
        op.execute(f'DROP POLICY {POLICY} ON {name}')
        op.execute(f'CREATE POLICY {POLICY} ON {name} USING ({check}) WITH CHECK ({check})')


def upgrade():
    _replace_policies(SCOPE_CHECK)


def downgrade():
    _replace_policies(OLD_SCOPE_CHECK)
