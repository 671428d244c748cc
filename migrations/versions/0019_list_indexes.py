"""list indexes: a case list's page N is found by walking its sort keys in one index

Revision ID: 0019_list_indexes
Revises: 0018_audit_chain_per_school
Create Date: 2026-12-02

An index only (no new table, so no row-level security policy). Every case list orders by
(created_at, id) and is restricted by school and by the leadership rule: with those four
columns in one index, the key of the row before a typed ``?page=N`` is read from the index
alone, on PostgreSQL (an index-only scan, school checked by the policy on the index's
column) as on SQLite. It replaces the index on created_at alone, its prefix.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019_list_indexes'
down_revision = '0018_audit_chain_per_school'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_complaint_list_key', 'complaint',
                    ['created_at', 'id', 'school_id', 'about_leadership'], unique=False)
    op.drop_index('ix_complaint_created_at', table_name='complaint')


def downgrade():
    op.create_index('ix_complaint_created_at', 'complaint', ['created_at'], unique=False)
    op.drop_index('ix_complaint_list_key', table_name='complaint')
