"""pledges: school and bureau pledges, versions, updates, signatures

Revision ID: 0003_pledges
Revises: 0002_complaints
Create Date: 2026-11-27 17:58:14.562062

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_pledges'
down_revision = '0002_complaints'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pledge',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answerable', sa.String(length=200), nullable=False),
    sa.Column('school_year', sa.String(length=9), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('edited_at', sa.DateTime(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['organisation.id'], name=op.f('fk_pledge_school_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pledge'))
    )
    with op.batch_alter_table('pledge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pledge_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pledge_school_year'), ['school_year'], unique=False)

    op.create_table('bureau_pledge',
    sa.Column('bureau_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answerable', sa.String(length=200), nullable=False),
    sa.Column('school_year', sa.String(length=9), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('edited_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['bureau_id'], ['organisation.id'], name=op.f('fk_bureau_pledge_bureau_id_organisation')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_bureau_pledge_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bureau_pledge'))
    )
    with op.batch_alter_table('bureau_pledge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bureau_pledge_bureau_id'), ['bureau_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bureau_pledge_school_year'), ['school_year'], unique=False)

    op.create_table('pledge_signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pledge_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('signed_at', sa.DateTime(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['pledge_id'], ['pledge.id'], name=op.f('fk_pledge_signature_pledge_id_pledge')),
    sa.ForeignKeyConstraint(['school_id'], ['organisation.id'], name=op.f('fk_pledge_signature_school_id_organisation')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_pledge_signature_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pledge_signature')),
    sa.UniqueConstraint('pledge_id', 'user_id', name=op.f('uq_pledge_signature_pledge_id_user_id'))
    )
    with op.batch_alter_table('pledge_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pledge_signature_pledge_id'), ['pledge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pledge_signature_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pledge_signature_user_id'), ['user_id'], unique=False)

    op.create_table('pledge_update',
    sa.Column('pledge_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_pledge_update_author_id_user_account')),
    sa.ForeignKeyConstraint(['pledge_id'], ['pledge.id'], name=op.f('fk_pledge_update_pledge_id_pledge')),
    sa.ForeignKeyConstraint(['school_id'], ['organisation.id'], name=op.f('fk_pledge_update_school_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pledge_update'))
    )
    with op.batch_alter_table('pledge_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pledge_update_pledge_id'), ['pledge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pledge_update_school_id'), ['school_id'], unique=False)

    op.create_table('pledge_version',
    sa.Column('pledge_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answerable', sa.String(length=200), nullable=False),
    sa.Column('school_year', sa.String(length=9), nullable=False),
    sa.Column('edited_at', sa.DateTime(), nullable=False),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.Column('editor_name', sa.String(length=120), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['editor_id'], ['user_account.id'], name=op.f('fk_pledge_version_editor_id_user_account')),
    sa.ForeignKeyConstraint(['pledge_id'], ['pledge.id'], name=op.f('fk_pledge_version_pledge_id_pledge')),
    sa.ForeignKeyConstraint(['school_id'], ['organisation.id'], name=op.f('fk_pledge_version_school_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pledge_version')),
    sa.UniqueConstraint('pledge_id', 'number', name=op.f('uq_pledge_version_pledge_id_number'))
    )
    with op.batch_alter_table('pledge_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pledge_version_pledge_id'), ['pledge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pledge_version_school_id'), ['school_id'], unique=False)

    op.create_table('bureau_pledge_update',
    sa.Column('pledge_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_bureau_pledge_update_author_id_user_account')),
    sa.ForeignKeyConstraint(['pledge_id'], ['bureau_pledge.id'], name=op.f('fk_bureau_pledge_update_pledge_id_bureau_pledge')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bureau_pledge_update'))
    )
    with op.batch_alter_table('bureau_pledge_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bureau_pledge_update_pledge_id'), ['pledge_id'], unique=False)

    op.create_table('bureau_pledge_version',
    sa.Column('pledge_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answerable', sa.String(length=200), nullable=False),
    sa.Column('school_year', sa.String(length=9), nullable=False),
    sa.Column('edited_at', sa.DateTime(), nullable=False),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.Column('editor_name', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['editor_id'], ['user_account.id'], name=op.f('fk_bureau_pledge_version_editor_id_user_account')),
    sa.ForeignKeyConstraint(['pledge_id'], ['bureau_pledge.id'], name=op.f('fk_bureau_pledge_version_pledge_id_bureau_pledge')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bureau_pledge_version')),
    sa.UniqueConstraint('pledge_id', 'number', name=op.f('uq_bureau_pledge_version_pledge_id_number'))
    )
    with op.batch_alter_table('bureau_pledge_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bureau_pledge_version_pledge_id'), ['pledge_id'], unique=False)



def downgrade():
    with op.batch_alter_table('bureau_pledge_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bureau_pledge_version_pledge_id'))

    op.drop_table('bureau_pledge_version')
    with op.batch_alter_table('bureau_pledge_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bureau_pledge_update_pledge_id'))

    op.drop_table('bureau_pledge_update')
    with op.batch_alter_table('pledge_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pledge_version_school_id'))
        batch_op.drop_index(batch_op.f('ix_pledge_version_pledge_id'))

    op.drop_table('pledge_version')
    with op.batch_alter_table('pledge_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pledge_update_school_id'))
        batch_op.drop_index(batch_op.f('ix_pledge_update_pledge_id'))

    op.drop_table('pledge_update')
    with op.batch_alter_table('pledge_signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pledge_signature_user_id'))
        batch_op.drop_index(batch_op.f('ix_pledge_signature_school_id'))
        batch_op.drop_index(batch_op.f('ix_pledge_signature_pledge_id'))

    op.drop_table('pledge_signature')
    with op.batch_alter_table('bureau_pledge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bureau_pledge_school_year'))
        batch_op.drop_index(batch_op.f('ix_bureau_pledge_bureau_id'))

    op.drop_table('bureau_pledge')
    with op.batch_alter_table('pledge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pledge_school_year'))
        batch_op.drop_index(batch_op.f('ix_pledge_school_id'))

    op.drop_table('pledge')
