"""station time zone: a station's reports in its own calendar

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 14:30:00

`departments.time_zone` (an IANA name, e.g. Asia/Urumqi) is the zone a station's cases are bucketed in
(engine/reports: its days, weeks, months); NULL, as every existing station is left, means the
deployment's FENGQIAO_TIME_ZONE, so the rollups already built stay right and nothing is re-queued.
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('departments') as batch:
        batch.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('departments') as batch:
        batch.drop_column('time_zone')
