"""handling operations: suspended cases, paused timers, urged and extended tasks (issue 20)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:40:00

A suspended case records since when (resuming moves its deadlines and timers by the pause); its
pending timers are parked as `paused`, found again by case through a partial index that holds only
them. A task counts how often it was urged (催办) and when last, and carries a pending extension
request (延期) and the due time an approved extension replaced, and who delegated it (委派).
"""
from alembic import op
import sqlalchemy as sa

import engine.store.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

PAUSED = "status = 'paused'"


def upgrade() -> None:
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspended_at', engine.store.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urge_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('urged_at', engine.store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('extension_due_at', engine.store.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('extended_from', engine.store.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('delegated_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_foreign_key('fk_human_tasks_delegated_by_id_users', 'users', ['delegated_by_id'], ['id'])
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.create_index('ix_timers_paused', ['instance_id'], unique=False,
                              postgresql_where=sa.text(PAUSED), sqlite_where=sa.text(PAUSED))


def downgrade() -> None:
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_index('ix_timers_paused')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_human_tasks_delegated_by_id_users', type_='foreignkey')
        batch_op.drop_column('delegated_by_id')
        batch_op.drop_column('extended_from')
        batch_op.drop_column('extension_due_at')
        batch_op.drop_column('urged_at')
        batch_op.drop_column('urge_count')
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.drop_column('suspended_at')
