"""inbox indexes: open tasks in due order; group queues ordered by due time and task id

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 17:00:00

Found by bench/scale.py: the breached-tasks board and a group's queue sorted every matching open
task (cost growing with the database); with these indexes they read the first page in order.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OPEN_TASK = "state IN ('open', 'claimed')"


def upgrade() -> None:
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_open_due', ['due_at', 'id'], unique=False,
                              postgresql_where=sa.text(OPEN_TASK), sqlite_where=sa.text(OPEN_TASK))
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_candidates_queue')
        batch_op.create_index('ix_candidates_queue', ['group_key', 'due_at', 'task_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_candidates_queue')
        batch_op.create_index('ix_candidates_queue', ['group_key', 'due_at'], unique=False)
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_open_due')
