"""external tasks: BPMN service tasks a department system fetches, locks and completes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:00:00

`external_tasks` holds the service tasks with camunda:type="external" that wait (engine/external_tasks.py);
one index, (topic, lock_expires_at), serves fetch-and-lock (a topic's unlocked or expired rows).
`incidents.external_task_id` names the task whose retries ran out (kind "external_task");
`auth_tokens.topics` scopes a department system's API token to the topics it may work on.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'external_tasks',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('business_key', sa.String(length=100), nullable=False),
        sa.Column('process_key', sa.String(length=200), nullable=False),
        sa.Column('element_id', sa.String(length=200), nullable=False),
        sa.Column('topic', sa.String(length=200), nullable=False),
        sa.Column('variables', sa.JSON(), nullable=False),
        sa.Column('lock_owner', sa.String(length=200), nullable=True),
        sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('retries', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('external_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_external_tasks_fetch', ['topic', 'lock_expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_external_tasks_instance_id'), ['instance_id'], unique=False)
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_task_id', sa.String(length=36), nullable=True))
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topics', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.drop_column('topics')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('external_task_id')
    with op.batch_alter_table('external_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_tasks_instance_id'))
        batch_op.drop_index('ix_external_tasks_fetch')
    op.drop_table('external_tasks')
