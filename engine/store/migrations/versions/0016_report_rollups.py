"""KPI report rollups: daily counts per station, case owner, department and risk level (issue 21)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 05:20:00

`report_days` holds one row per local day × station × case owner × department × risk level with the
counts of that day's events and three duration histograms (engine/reports/rollups.py);
`report_cases` what each case adds to it now; `report_deadlines` the events that count once their due
time passes; `report_dirty` the cases changed since the rollups took them in. `ix_tasks_open_backlog` lets the
bulletin's open backlog (open tasks by station, SLA state and age) be counted from the index alone. Backfill: every existing
case is queued in `report_dirty` (one INSERT … SELECT), and the sweeper or `fengqiao report rebuild`
takes them in; until the queue is short, reports are computed from the task rows as before.
"""
from alembic import op
import sqlalchemy as sa

from engine.store.models import OPEN_TASK_INDEX_WHERE, REPORT_COUNTERS, REPORT_DAY_KEYS, REPORT_HISTOGRAM_COLUMNS, UTCDateTime


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'report_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('department', sa.String(length=64), nullable=False),
        sa.Column('risk_level', sa.String(length=16), nullable=False),
        *[
            sa.Column(name, sa.Integer(), nullable=False, server_default='0')
            for name in (*REPORT_COUNTERS, *REPORT_HISTOGRAM_COLUMNS)
        ],
        sa.PrimaryKeyConstraint(*REPORT_DAY_KEYS, name='pk_report_days'),
    )
    op.create_table(
        'report_cases',
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('instance_id'),
    )
    op.create_table(
        'report_deadlines',
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('department', sa.String(length=64), nullable=False),
        sa.Column('risk_level', sa.String(length=16), nullable=False),
        sa.Column('due_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('task_id'),
    )
    op.create_index('ix_report_deadlines_day', 'report_deadlines', ['day'])
    op.create_index('ix_report_deadlines_instance_id', 'report_deadlines', ['instance_id'])
    op.create_table(
        'report_dirty',
        sa.Column('id', BigId, nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    # the open backlog (by station, SLA state and age) read from the index alone
    op.create_index(
        'ix_tasks_open_backlog',
        'human_tasks',
        ['station_id', 'due_at', 'warn_at', 'created_at'],
        postgresql_where=sa.text(OPEN_TASK_INDEX_WHERE),
        sqlite_where=sa.text(OPEN_TASK_INDEX_WHERE),
    )
    # a deployed system has history: queue every case for the rollups
    op.execute('INSERT INTO report_dirty (instance_id) SELECT id FROM process_instances')


def downgrade() -> None:
    op.drop_index('ix_tasks_open_backlog', table_name='human_tasks')
    op.drop_table('report_dirty')
    op.drop_index('ix_report_deadlines_instance_id', table_name='report_deadlines')
    op.drop_index('ix_report_deadlines_day', table_name='report_deadlines')
    op.drop_table('report_deadlines')
    op.drop_table('report_cases')
    op.drop_table('report_days')
