"""receipt tokens: the one-time form token and sealed code move onto the receipt

Revision ID: 0008_receipt_tokens
Revises: 0004_row_level_security
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
down_revision = '0004_row_level_security'
branch_labels = None
depends_on = None


def _all_schools():
    # The complaint table has row-level security: this migration reads every school.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SELECT set_config('kaimen.scope', 'all', true)")


def upgrade():
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sealed_code', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_receipt_plugin_school_id_token_hash'),
            ['plugin', 'school_id', 'token_hash'])

    _all_schools()
    op.execute(
        "UPDATE receipt SET "
        "token_hash = (SELECT complaint.token_hash FROM complaint "
        "WHERE complaint.id = receipt.object_id AND complaint.school_id = receipt.school_id), "
        "sealed_code = (SELECT complaint.sealed_code FROM complaint "
        "WHERE complaint.id = receipt.object_id AND complaint.school_id = receipt.school_id) "
        "WHERE receipt.plugin = 'complaints'"
    )

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

    _all_schools()
    op.execute(
        "UPDATE complaint SET "
        "token_hash = (SELECT receipt.token_hash FROM receipt WHERE receipt.plugin = 'complaints' "
        "AND receipt.object_id = complaint.id AND receipt.school_id = complaint.school_id), "
        "sealed_code = (SELECT receipt.sealed_code FROM receipt "
        "WHERE receipt.plugin = 'complaints' "
        "AND receipt.object_id = complaint.id AND receipt.school_id = complaint.school_id)"
    )

    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_constraint('uq_receipt_plugin_school_id_token_hash', type_='unique')
        batch_op.drop_column('sealed_code')
        batch_op.drop_column('token_hash')
