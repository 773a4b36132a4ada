"""collaboration: opinions and comments (sealed), common phrases, task drafts, saved inbox views

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:40:00

Comment and draft texts are sealed with the vault like personal fields (docs/security.md); the
tables are read by case (comments), by task (drafts) and by user (phrases, views), one index each.
"""
from alembic import op
import sqlalchemy as sa

from engine.store.models import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'comments',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('instance_id', sa.String(length=36),
                  sa.ForeignKey('process_instances.id', ondelete='CASCADE'), nullable=False),
        sa.Column('task_id', sa.String(length=36), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('author_id', BigId, sa.ForeignKey('users.id'), nullable=True),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.LargeBinary(), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    )
    op.create_index('ix_comments_instance', 'comments', ['instance_id', 'created_at'])
    op.create_table(
        'common_phrases',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('user_id', BigId, sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=True),
        sa.Column('text', sa.String(length=200), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
    )
    op.create_index('ix_phrases_user', 'common_phrases', ['user_id', 'id'])
    op.create_table(
        'task_drafts',
        sa.Column('task_id', sa.String(length=36), sa.ForeignKey('human_tasks.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', BigId, sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=True),
        sa.Column('nonce', sa.LargeBinary(), nullable=True),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=True),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'saved_views',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('user_id', BigId, sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('user_id', 'name'),
    )


def downgrade() -> None:
    op.drop_table('saved_views')
    op.drop_table('task_drafts')
    op.drop_table('common_phrases')
    op.drop_index('ix_comments_instance', table_name='comments')
    op.drop_table('comments')
