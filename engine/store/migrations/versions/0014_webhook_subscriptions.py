"""webhook subscriptions (Standard Webhooks out), departments' inbound secrets and receipts (issue 18)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:10:00

Deliveries are shared with the notification channels: a delivery belongs to a channel or to a
subscription (`channel_id` becomes nullable), so claim, lease, backoff, RQ jobs and resend are one
code path. `ix_deliveries_event` lists the attempts of one event. The webhook relay's cursor starts
at the newest outbox event: history is not sent, every event after the migration is.
"""
from alembic import op
import sqlalchemy as sa

from engine.store.models import UTCDateTime


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('department_id', BigId, nullable=True),
        sa.Column('hint', sa.String(length=200), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.LargeBinary(), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('previous_until', UTCDateTime(timezone=True), nullable=True),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('disabled_reason', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhook_subscriptions_department_id', 'webhook_subscriptions', ['department_id'])
    op.create_table(
        'webhook_inbound_secrets',
        sa.Column('department_id', BigId, nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.LargeBinary(), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('previous_until', UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('department_id'),
    )
    op.create_table(
        'webhook_receipts',
        sa.Column('department', sa.String(length=64), nullable=False),
        sa.Column('webhook_id', sa.String(length=200), nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('department', 'webhook_id'),
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.alter_column('channel_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.add_column(sa.Column('subscription_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            'fk_deliveries_subscription', 'webhook_subscriptions', ['subscription_id'], ['id'], ondelete='CASCADE'
        )
        batch_op.create_unique_constraint('uq_deliveries_event_subscription', ['event_id', 'subscription_id'])
        batch_op.create_index('ix_deliveries_subscription', ['subscription_id', 'id'])
        batch_op.create_index('ix_deliveries_event', ['event_id'])
    op.execute(
        "INSERT INTO relay_cursors (name, last_id, updated_at) "
        "SELECT 'webhooks', COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM outbox"
    )


def downgrade() -> None:
    op.execute("DELETE FROM relay_cursors WHERE name = 'webhooks'")
    op.execute("DELETE FROM notification_deliveries WHERE channel_id IS NULL")
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_event')
        batch_op.drop_index('ix_deliveries_subscription')
        batch_op.drop_constraint('uq_deliveries_event_subscription', type_='unique')
        batch_op.drop_constraint('fk_deliveries_subscription', type_='foreignkey')
        batch_op.drop_column('subscription_id')
        batch_op.alter_column('channel_id', existing_type=sa.String(length=36), nullable=False)
    op.drop_table('webhook_receipts')
    op.drop_table('webhook_inbound_secrets')
    op.drop_index('ix_webhook_subscriptions_department_id', table_name='webhook_subscriptions')
    op.drop_table('webhook_subscriptions')
