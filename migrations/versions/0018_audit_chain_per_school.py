"""audit chain per school: each school and each bureau's own rows have a chain and a head

Revision ID: 0018_audit_chain_per_school
Revises: 0015_rls_initplan
Create Date: 2026-12-02 13:40:00

Every audited write of a bureau appended to the bureau's one chain, so every commit of the
bureau queued on one ``audit_head`` row. Now an event goes to the chain of the
organisation that owns it (``chain_id``: its school, or the bureau), each chain with a
head of its own (``audit_head`` keyed by ``chain_id``, with the ``bureau_id`` whose
checkpoints sign it).

No event is rehashed, so this needs no audit key and breaks no signed checkpoint: every
existing event stays where it was, in the chain that is now its bureau's own
(``chain_id = bureau_id``), whose hashed content names it exactly as before (by the
bureau's id); its head likewise. Schools' chains start at #1 with their next event.
Checkpoint lines signed before keep verifying: they name the bureau's own chain.

``downgrade`` puts the bureau's own chains back as the only ones. It refuses while any
school has a chain, since those events cannot join their bureau's chain without
rehashing them with the audit key (a migration never holds it).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_audit_chain_per_school'
down_revision = '0017_rls_hashed_scope'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_id', sa.Integer(), nullable=True))
    op.execute("UPDATE audit_event SET chain_id = bureau_id")
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('chain_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_audit_event_chain_id_organisation'),
                                    'organisation', ['chain_id'], ['id'])
        batch_op.drop_constraint('uq_audit_event_bureau_id_seq', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_chain_id_seq'),
                                          ['chain_id', 'seq'])
        # the bureau's audit page reads by bureau, which the unique constraint indexed
        batch_op.create_index(batch_op.f('ix_audit_event_bureau_id'), ['bureau_id'],
                              unique=False)

    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_id', sa.Integer(), nullable=True))
    op.execute("UPDATE audit_head SET chain_id = bureau_id")
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.alter_column('chain_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint('pk_audit_head', type_='primary')
        batch_op.create_primary_key('pk_audit_head', ['chain_id'])
        batch_op.create_foreign_key(batch_op.f('fk_audit_head_chain_id_organisation'),
                                    'organisation', ['chain_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_audit_head_bureau_id'), ['bureau_id'],
                              unique=False)


def downgrade():
    connection = op.get_bind()
    schools = connection.execute(sa.text(
        "SELECT count(*) FROM audit_head WHERE chain_id <> bureau_id")).scalar()
    events = connection.execute(sa.text(
        "SELECT count(*) FROM audit_event WHERE chain_id <> bureau_id")).scalar()
    if schools or events:
        raise RuntimeError(
            "schools have audit chains of their own: their events cannot be put back into "
            "their bureau's chain without rehashing them with the audit key")
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_head_bureau_id'))
        batch_op.drop_constraint(batch_op.f('fk_audit_head_chain_id_organisation'),
                                 type_='foreignkey')
        batch_op.drop_constraint('pk_audit_head', type_='primary')
        batch_op.create_primary_key('pk_audit_head', ['bureau_id'])
        batch_op.drop_column('chain_id')

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_bureau_id'))
        batch_op.drop_constraint(batch_op.f('uq_audit_event_chain_id_seq'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_bureau_id_seq'),
                                          ['bureau_id', 'seq'])
        batch_op.drop_constraint(batch_op.f('fk_audit_event_chain_id_organisation'),
                                 type_='foreignkey')
        batch_op.drop_column('chain_id')
