"""school_version: a counter per school, part of every cached public page's key

Revision ID: 0013_school_version
Revises: 0012_plans
Create Date: 2026-12-02

Not school-owned data (a counter, no row of any school's content): no row-level security,
so every request can read the version of the school it serves. Row 0 stands for every
school (bumped by changes to a bureau or by a write across schools).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_school_version'
down_revision = '0012_plans'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('school_version',
    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('school_id', name=op.f('pk_school_version'))
    )


def downgrade():
    op.drop_table('school_version')
