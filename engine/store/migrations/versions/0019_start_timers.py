"""start timers: a process whose start event is a timer starts its cases on schedule

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 14:45:00

`start_timers` (engine/start_timers.py) holds, per deployed version and timer start event, when the
next case starts; a deploy writes them and retires the previous version's. Versions deployed before
the upgrade get no schedule: deploy them again to schedule them.
"""
from alembic import op
import sqlalchemy as sa
import engine.store.models


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'start_timers',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('definition_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('process_key', sa.String(length=200), nullable=False),
        sa.Column('element_id', sa.String(length=200), nullable=False),
        sa.Column('next_due_at', engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('remaining', sa.Integer(), nullable=False),
        sa.Column('step_seconds', sa.Float(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claim_token', sa.String(length=36), nullable=True),
        sa.Column('locked_until', engine.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('started', sa.Integer(), nullable=False),
        sa.Column('last_started_at', engine.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['definition_id'], ['process_definitions.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('start_timers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_start_timers_process_key'), ['process_key'], unique=False)
        batch_op.create_index(
            'ix_start_timers_due',
            ['next_due_at'],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table('start_timers', schema=None) as batch_op:
        batch_op.drop_index('ix_start_timers_due')
        batch_op.drop_index(batch_op.f('ix_start_timers_process_key'))
    op.drop_table('start_timers')
