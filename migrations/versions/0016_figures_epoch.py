"""figures epoch: a random number per database, part of every kept umbrella figure's key

Revision ID: 0016_figures_epoch
Revises: 0015_rls_initplan
Create Date: 2026-12-02

Kept figures (kaimen.figures) are keyed by school id and version. A database created
afresh (a restored backup, ``make run`` on a new file) starts its ids and versions again
from the beginning, while Redis may still hold the old database's figures under the same
keys: row -2 of ``school_version`` holds a random number that tells the databases apart.
"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_figures_epoch'
down_revision = '0015_rls_initplan'
branch_labels = None
depends_on = None

EPOCH = -2


def upgrade():
    table = sa.table('school_version', sa.column('school_id', sa.Integer),
                     sa.column('version', sa.BigInteger))
    op.execute(table.delete().where(table.c.school_id == EPOCH))
    op.execute(table.insert().values(school_id=EPOCH, version=secrets.randbits(62)))


def downgrade():
    table = sa.table('school_version', sa.column('school_id', sa.Integer))
    op.execute(table.delete().where(table.c.school_id == EPOCH))
