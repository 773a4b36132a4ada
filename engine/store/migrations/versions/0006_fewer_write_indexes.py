"""fewer write indexes: none on audit times, none on the tasks' business keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00

Every change appends audit rows and most insert a task row; each index on them costs the change a
page (docs/benchmarks.md, "pages per commit"). No query reads the audit trail by time (it is read by
case, and in id order), and the inbox's business-key filter now finds the case by its unique key and
its tasks through the tasks' instance index.
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_at')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_business_key')


def downgrade() -> None:
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_business_key', ['business_key'], unique=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_at', ['at'], unique=False)
