"""lean write indexes: timers indexed by due time and task only while pending; no index on event ids

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 01:40:00

Found by counting the pages each change writes (docs/benchmarks.md, "pages per commit"): fired and
cancelled timers stayed in the due-time and task indexes, so every settled SLA mark moved an entry
instead of dropping it; every timer entered the claim-token index (with a NULL) and stayed; and the unique
index on the outbox's random event ids put each event on a random page.

The indexes are rebuilt without CONCURRENTLY (writes to `timers` wait while they build), and SQLite
copies the outbox table to drop its unnamed constraint: on a large database, migrate with the
processes stopped.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"
LEASED = "status = 'pending' AND claim_token IS NOT NULL"


def _partial(predicate: str) -> dict:
    return {"postgresql_where": sa.text(predicate), "sqlite_where": sa.text(predicate)}


def upgrade() -> None:
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_index('ix_timers_due')
        batch_op.drop_index('ix_timers_task')
        batch_op.drop_index('ix_timers_claim_token')
        batch_op.create_index('ix_timers_due', ['due_at'], unique=False, **_partial(PENDING))
        batch_op.create_index('ix_timers_task', ['task_id'], unique=False, **_partial(PENDING))
        batch_op.create_index('ix_timers_claim_token', ['claim_token'], unique=False, **_partial(LEASED))
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('outbox_event_id_key', 'outbox', type_='unique')
    else:  # SQLite: the unnamed constraint goes with a copy of the table
        with op.batch_alter_table('outbox', schema=None, recreate='always',
                                  naming_convention={'uq': 'uq_%(table_name)s_%(column_0_name)s'}) as batch_op:
            batch_op.drop_constraint('uq_outbox_event_id', type_='unique')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.create_unique_constraint('outbox_event_id_key', 'outbox', ['event_id'])
    else:
        with op.batch_alter_table('outbox', schema=None) as batch_op:
            batch_op.create_unique_constraint('uq_outbox_event_id', ['event_id'])
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_index('ix_timers_claim_token')
        batch_op.drop_index('ix_timers_task')
        batch_op.drop_index('ix_timers_due')
        batch_op.create_index('ix_timers_claim_token', ['claim_token'], unique=False)
        batch_op.create_index('ix_timers_task', ['task_id', 'status'], unique=False)
        batch_op.create_index('ix_timers_due', ['status', 'due_at'], unique=False)
