"""row-level security: PostgreSQL policies on every school-owned table

Revision ID: 0004_row_level_security
Revises: 0003_pledges
Create Date: 2026-11-27 19:10:00

A no-op on SQLite. On PostgreSQL, every table of a ``TenantOwned`` model gets
row-level security, enabled and forced (so the owner is bound too), and a
policy that lets a transaction see and write only the rows of the schools in
its ``kaimen.scope`` setting: 'all', or comma-separated school ids; unset or
'' lets nothing through. A copy of ``kaimen.rls`` (a migration must not import
the app); tests/test_row_level_security.py checks that TABLES matches the
models and the DDL matches ``kaimen.rls``.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004_row_level_security'
down_revision = '0003_pledges'
branch_labels = None
depends_on = None

POLICY = 'kaimen_school_scope'
TABLES = [
    'complaint',
    'complaint_answer_template',
    'complaint_attachment',
    'complaint_event',
    'complaint_overdue_notice',
    'pledge',
    'pledge_signature',
    'pledge_update',
    'pledge_version',
]
SCOPE_CHECK = (
    "CASE (SELECT coalesce(current_setting('kaimen.scope', true), '')) "
    "WHEN 'all' THEN true "
    "WHEN '' THEN false "
    "ELSE school_id IN (SELECT scope.id FROM unnest(string_to_array("
    "nullif(nullif(current_setting('kaimen.scope', true), ''), 'all'), ',')::int[]) "
    "AS scope(id)) "
    "END"
)


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(f'DROP POLICY IF EXISTS {POLICY} ON "{table}"')
        op.execute(f'CREATE POLICY {POLICY} ON "{table}" '
                   f'USING ({SCOPE_CHECK}) WITH CHECK ({SCOPE_CHECK})')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f'DROP POLICY IF EXISTS {POLICY} ON "{table}"')
        op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
