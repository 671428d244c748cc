"""receipt tokens: the one-time form token and sealed code move onto the receipt

Revision ID: 0008_receipt_tokens
Revises: 0007_login_throttle
Create Date: 2026-12-02 04:30:00

Double-submit protection moves from the complaint box into the core's receipts
(``kaimen.receipts.issue(..., token=...)`` and ``replay``), so every plugin that
issues receipts has it. The complaint's token columns are copied onto its receipt
and dropped. The core keys tokens under its own purpose, so a copied token no
longer matches a retry: it is kept as the record of what was filed, and a form
sent again across the upgrade (within the seconds a retry takes) files anew.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_receipt_tokens'
down_revision = '0007_login_throttle'
branch_labels = None
depends_on = None


SAME_CASE = ("receipt.plugin = 'complaints' AND receipt.object_id = complaint.id "
             "AND receipt.school_id = complaint.school_id")


def _copy_tokens(target, source, where=''):
    """Copy token_hash and sealed_code from ``source`` rows onto ``target`` rows of one case."""
    # The complaint table has row-level security: this migration reads every school.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SELECT set_config('kaimen.scope', 'all', true)")
    columns = ', '.join(
        f'{column} = (SELECT {source}.{column} FROM {source} WHERE {SAME_CASE})'
        for column in ('token_hash', 'sealed_code'))
    op.execute(f'UPDATE {target} SET {columns} {where}')


def upgrade():
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sealed_code', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_receipt_plugin_school_id_token_hash'),
            ['plugin', 'school_id', 'token_hash'])

    _copy_tokens('receipt', 'complaint', "WHERE receipt.plugin = 'complaints'")

    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_constraint('uq_complaint_school_id_token_hash', type_='unique')
        batch_op.drop_column('sealed_code')
        batch_op.drop_column('token_hash')


def downgrade():
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sealed_code', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_complaint_school_id_token_hash'), ['school_id', 'token_hash'])

    _copy_tokens('complaint', 'receipt')

    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_constraint('uq_receipt_plugin_school_id_token_hash', type_='unique')
        batch_op.drop_column('sealed_code')
        batch_op.drop_column('token_hash')
