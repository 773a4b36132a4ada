"""notifications: channels (sealed targets), deliveries, their attempts and the relay's cursor

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 22:40:00

New tables only: nothing existing is rewritten, so it runs with the processes up. The relay's cursor
starts at the newest outbox event: history is not notified, every event after the migration is.
"""
from alembic import op
import sqlalchemy as sa

from engine.store.models import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
PENDING = "state = 'pending'"


def upgrade() -> None:
    op.create_table(
        'notification_channels',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('user_id', BigId, nullable=True),
        sa.Column('department_id', BigId, nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('hint', sa.String(length=200), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.LargeBinary(), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('disabled_reason', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notification_channels_user_id', 'notification_channels', ['user_id'])
    op.create_index('ix_notification_channels_department_id', 'notification_channels', ['department_id'])
    op.create_table(
        'notification_deliveries',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('channel_id', sa.String(length=36), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=True),
        sa.Column('task_id', sa.String(length=36), nullable=True),
        sa.Column('message', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('locked_until', UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['channel_id'], ['notification_channels.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id', 'channel_id'),
    )
    op.create_index('ix_deliveries_due', 'notification_deliveries', ['next_attempt_at'],
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.create_index('ix_deliveries_state', 'notification_deliveries', ['state', 'attempts', 'id'])
    op.create_index('ix_deliveries_channel', 'notification_deliveries', ['channel_id', 'id'])
    op.create_table(
        'delivery_attempts',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('delivery_id', BigId, nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['delivery_id'], ['notification_deliveries.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_attempts_delivery', 'delivery_attempts', ['delivery_id', 'id'])
    op.create_table(
        'relay_cursors',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.execute(
        "INSERT INTO relay_cursors (name, last_id, updated_at) "
        "SELECT 'notifications', COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM outbox"
    )


def downgrade() -> None:
    op.drop_table('relay_cursors')
    op.drop_table('delivery_attempts')
    op.drop_table('notification_deliveries')
    op.drop_table('notification_channels')
