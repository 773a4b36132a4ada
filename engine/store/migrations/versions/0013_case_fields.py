"""case fields on tasks: a case's risk level, category and community copied onto its task rows

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:05:00

The inbox's business-field filters (saved views: "my area, red cases") checked each row another
filter's index read against its case's variables, so a rare value over a long list read rows until
the page filled. The task rows now carry the fields (engine/case_fields.py keeps them in step with
the case's variables) and each has ONE index, (field, due_at, id): the filter's equality, then the
inbox's default order with its tie-breaker, so a page of a rare value is read in order. One per
field and no more (no per-state or per-sort variants): each index costs every task insert a page
(0006). Not partial on open tasks: the filters also serve a caller's completed tasks.

The backfill copies text values of at most 200 characters, the community field's limit (other values
never match a filter).
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

FIELDS = ('risk_level', 'category', 'community')


def _copied(dialect: str, name: str) -> str:
    """SQL for one field of the case's variables as the task rows keep it (text of <= 200 chars, else NULL)."""
    if dialect == 'postgresql':
        value = f"(p.variables::jsonb ->> '{name}')"
        is_text = f"jsonb_typeof(p.variables::jsonb -> '{name}') = 'string'"
    else:
        value = f"json_extract(p.variables, '$.{name}')"
        is_text = f"json_type(p.variables, '$.{name}') = 'text'"
    return f"CASE WHEN {is_text} AND length({value}) <= 200 THEN {value} END"


def upgrade() -> None:
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        for name in FIELDS:
            batch_op.add_column(sa.Column(name, sa.String(length=200), nullable=True))
    dialect = op.get_bind().dialect.name
    copies = ", ".join(
        f"{name} = (SELECT {_copied(dialect, name)} FROM process_instances p WHERE p.id = human_tasks.instance_id)"
        for name in FIELDS
    )
    op.execute(f"UPDATE human_tasks SET {copies}")
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        for name in FIELDS:
            batch_op.create_index(f'ix_tasks_{name}_due', [name, 'due_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        for name in FIELDS:
            batch_op.drop_index(f'ix_tasks_{name}_due')
        for name in reversed(FIELDS):
            batch_op.drop_column(name)
