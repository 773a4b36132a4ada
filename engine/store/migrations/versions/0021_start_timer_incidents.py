"""incidents without a case: a scheduled start that started no case is an incident

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 17:45:00

A timer start event's occurrence that cannot start its case (no station for it, or its start kept
failing) is an incident of kind `start_timer` (engine/start_timers.py): it has no case, so
`instance_id` may be empty, and `start_timer_id` and `due_at` name the schedule and the occurrence.
Listed, retried and dismissed where the case incidents are.
"""
from alembic import op
import sqlalchemy as sa
import engine.store.models


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.alter_column('instance_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.add_column(
            sa.Column(
                'start_timer_id',
                sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                sa.ForeignKey('start_timers.id', name='fk_incidents_start_timer_id', ondelete='SET NULL'),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column('due_at', engine.store.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM incidents WHERE instance_id IS NULL")
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('due_at')
        batch_op.drop_column('start_timer_id')
        batch_op.alter_column('instance_id', existing_type=sa.String(length=36), nullable=False)
