"""row-level security: read kaimen.scope once per statement, not once per row

Revision ID: 0015_rls_initplan
Revises: 0014_umbrella_indexes
Create Date: 2026-12-02 10:45:00

A no-op on SQLite. On PostgreSQL, the policy of 0004 on every table that carries it
(found in ``pg_policy`` by name, as ``kaimen.rls.policed_tables`` finds them, so a
plugin's table is included) is dropped and created again with the same meaning, written
with scalar subqueries: PostgreSQL then reads the setting once per statement (an
InitPlan) instead of once per row. Both in one transaction, so no table is ever without
its policy (and a table with row-level security but no policy shows nothing anyway).
``downgrade`` puts back the per-row expression. SCOPE_CHECK is a copy of ``kaimen.rls``
(a migration must not import the app); tests/test_rls_initplan.py checks that it agrees
and that OLD_SCOPE_CHECK and SCOPE_CHECK give the same answer for every kind of setting.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_rls_initplan'
down_revision = '0014_umbrella_indexes'
branch_labels = None
depends_on = None

POLICY = 'kaimen_school_scope'
SCOPE_CHECK = (
    "CASE (SELECT coalesce(current_setting('kaimen.scope', true), '')) "
    "WHEN 'all' THEN true "
    "WHEN '' THEN false "
    "ELSE school_id = ANY ((SELECT string_to_array("
    "nullif(nullif(current_setting('kaimen.scope', true), ''), 'all'), ',')::int[])::int[]) "
    "END"
)
# The expression of 0004 to 0012 as they first shipped: evaluated for every row.
OLD_SCOPE_CHECK = (
    "CASE coalesce(current_setting('kaimen.scope', true), '') "
    "WHEN 'all' THEN true "
    "WHEN '' THEN false "
    "ELSE school_id = ANY (string_to_array(current_setting('kaimen.scope', true), ',')::int[]) "
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
