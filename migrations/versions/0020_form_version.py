"""form version: a second counter per school, for public forms, that form-neutral writes skip

Revision ID: 0020_form_version
Revises: 0019_list_indexes
Create Date: 2026-12-02

A parent's opinion bumps the school's version (the school page counts opinions), so the
next parent's form page was rendered again although nothing on it had changed. Rows of a
model marked ``form_neutral`` (an opinion, its events and files, a receipt, an audit event)
bump ``version`` only; every other write bumps both. A kept form page is keyed by
``form_version``. No new table: no row-level security policy.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020_form_version'
down_revision = '0019_list_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('school_version', sa.Column('form_version', sa.BigInteger(),
                                              nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('school_version') as batch:
        batch.drop_column('form_version')
