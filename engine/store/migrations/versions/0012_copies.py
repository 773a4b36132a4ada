"""copies: read-only notices of a case (抄送) to users, with their read marks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:55:00

One row per recipient (a group is expanded to its users when the copy is sent). Read by recipient,
newest first ("copied to me": ix_copies_recipient), and by case (ix_copies_instance). The reason is
the sender's free text, shown to the recipient, like the reasons of the other handling operations.
"""
from alembic import op
import sqlalchemy as sa

from engine.store.models import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'case_copies',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('instance_id', sa.String(length=36),
                  sa.ForeignKey('process_instances.id', ondelete='CASCADE'), nullable=False),
        sa.Column('recipient_id', BigId, sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('copied_by_id', BigId, sa.ForeignKey('users.id'), nullable=True),
        sa.Column('copied_by', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('read_at', UTCDateTime(), nullable=True),
    )
    op.create_index('ix_copies_recipient', 'case_copies', ['recipient_id', 'created_at'])
    op.create_index('ix_copies_instance', 'case_copies', ['instance_id'])


def downgrade() -> None:
    op.drop_index('ix_copies_instance', table_name='case_copies')
    op.drop_index('ix_copies_recipient', table_name='case_copies')
    op.drop_table('case_copies')
