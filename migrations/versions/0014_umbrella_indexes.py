"""umbrella indexes: the bureau view's per-school aggregates read indexes, not tables

Revision ID: 0014_umbrella_indexes
Revises: 0013_school_version
Create Date: 2026-12-02

Indexes only (no new table, so no row-level security policy): a school's liaison visits
by date and visitor, its complaint cases by reference and by date received (with every
column the figures count), and its pledges by kind and school year.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014_umbrella_indexes'
down_revision = '0013_school_version'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_liaison_visit_school_visited_visitor', 'liaison_visit',
                    ['school_id', 'visited_on', 'visitor_id'], unique=False)
    op.create_index('ix_complaint_school_reference', 'complaint',
                    ['school_id', 'reference', 'finding', 'about_leadership'], unique=False)
    op.create_index('ix_complaint_school_received_figures', 'complaint',
                    ['school_id', 'received_on', 'status', 'about_leadership', 'ack_due',
                     'answer_due', 'answered_at', 'answered_on_time', 'satisfied',
                     'days_to_answer'], unique=False)
    op.create_index('ix_pledge_school_kind_year', 'pledge',
                    ['school_id', 'kind', 'school_year'], unique=False)


def downgrade():
    op.drop_index('ix_pledge_school_kind_year', table_name='pledge')
    op.drop_index('ix_complaint_school_received_figures', table_name='complaint')
    op.drop_index('ix_complaint_school_reference', table_name='complaint')
    op.drop_index('ix_liaison_visit_school_visited_visitor', table_name='liaison_visit')
