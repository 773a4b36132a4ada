"""attachments: files of a case or task, sealed in the attachment storage (issue 22)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:30:00
"""
from alembic import op
import sqlalchemy as sa

import engine.store.models


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'attachments',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('task_id', sa.String(length=36), nullable=True),
        sa.Column('storage_key', sa.String(length=300), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('sealed_name', sa.LargeBinary(), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('has_thumbnail', sa.Boolean(), nullable=False),
        sa.Column('location_kept', sa.Boolean(), nullable=False),
        sa.Column('uploaded_by_id', BigId, nullable=True),
        sa.Column('uploaded_at', engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('deleted_at', engine.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('deleted_by_id', BigId, nullable=True),
        sa.Column('delete_reason', sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id']),
        sa.ForeignKeyConstraint(['deleted_by_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_attachments_instance', 'attachments', ['instance_id', 'uploaded_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_attachments_instance', table_name='attachments')
    op.drop_table('attachments')
