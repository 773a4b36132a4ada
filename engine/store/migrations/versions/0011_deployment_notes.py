"""deployment notes: the deployer's comment and the forms deployed with a model

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 22:40:00

The admin console deploys a model with a comment and, optionally, the JSON Schema forms its tasks
name (a deployment carries its forms like a Camunda deployment carries `.form` files). Both belong to
the deployment, so every definition version it made shares them; both are nullable (older rows have
neither). No index: they are read by the deployment's primary key.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('forms', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_column('forms')
        batch_op.drop_column('comment')
