"""fewer write indexes: none on audit times nor on the tasks' business keys; one for a case's timers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00

Every change appends audit rows, most insert a task row and its SLA marks; each index on them costs
the change a page (docs/benchmarks.md, "pages per commit"). No query reads the audit trail by time (it
is read by case, and in id order); the inbox's business-key filter now finds the case by its unique
key and its tasks through the tasks' instance index; and the timers' two lookup indexes, by task
(pending) and by case (every row), become one by case and task over the unsettled rows (pending or
incident), which is every lookup the engine makes: cases are never deleted, so the foreign key needs
no index of its own.

SQLite drops and creates indexes in place; PostgreSQL builds the new one without CONCURRENTLY
(writes to `timers` wait while it builds): on a large database, migrate with the processes stopped.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"
UNSETTLED = "status = 'pending' OR status = 'incident'"


def _partial(predicate: str) -> dict:
    return {"postgresql_where": sa.text(predicate), "sqlite_where": sa.text(predicate)}


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_at')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_business_key')
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.create_index('ix_timers_instance_task', ['instance_id', 'task_id'], unique=False,
                              **_partial(UNSETTLED))
        batch_op.drop_index('ix_timers_task')
        batch_op.drop_index('ix_timers_instance_id')


def downgrade() -> None:
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.create_index('ix_timers_instance_id', ['instance_id'], unique=False)
        batch_op.create_index('ix_timers_task', ['task_id'], unique=False, **_partial(PENDING))
        batch_op.drop_index('ix_timers_instance_task')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_business_key', ['business_key'], unique=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_at', ['at'], unique=False)
