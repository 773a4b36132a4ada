"""signal receipts: a signal thrown in one case delivered to another once

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 05:30:00

`signal_receipts` (engine/signals.py) records each case a thrown signal reached, in that case's own
transaction: the relay may deliver an outbox event again after a crash, the receipt makes it a no-op.
The relay's place in the outbox is a `relay_cursors` row (`signals`), set here at the end of the
outbox: throws recorded before the upgrade were never meant for other cases and are not delivered.
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'signal_receipts',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('target', sa.String(length=250), nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('event_id', 'target'),
    )
    op.execute(
        "INSERT INTO relay_cursors (name, last_id, updated_at) "
        "SELECT 'signals', COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM outbox"
    )


def downgrade() -> None:
    op.execute("DELETE FROM relay_cursors WHERE name = 'signals'")
    op.drop_table('signal_receipts')
