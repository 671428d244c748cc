"""login throttle per (username, address) pair

Revision ID: 0007_login_throttle
Revises: 0005_school_years
Create Date: 2026-12-02 04:30:00

The throttle counts login attempts per username and address (the empty address
counts a username's attempts from everywhere). Its rows only live for minutes,
so the table is made anew rather than converted: pending counts are forgotten.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_login_throttle'
down_revision = '0005_school_years'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table('login_throttle')
    op.create_table('login_throttle',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('username', 'address', name=op.f('pk_login_throttle'))
    )
    op.create_index(op.f('ix_login_throttle_last_failure_at'), 'login_throttle',
                    ['last_failure_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_login_throttle_last_failure_at'), table_name='login_throttle')
    op.drop_table('login_throttle')
    op.create_table('login_throttle',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttle'))
    )
