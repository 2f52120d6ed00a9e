"""Sales since a season's start, per plan: what re-planning a season week reads; and
the solve a re-planned version came from (``plan_versions.source_solve_id``).

Revision ID: 0005_plan_sales
Revises: 0004_plan_versions
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005_plan_sales'
down_revision = '0004_plan_versions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('plan_sales',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('tenant', sa.String(length=64), nullable=False),
                    sa.Column('name', sa.String(length=128), nullable=False),
                    sa.Column('by', sa.String(length=8), nullable=False),
                    sa.Column('rows', sa.JSON(), nullable=False),
                    sa.Column('n_rows', sa.Integer(), nullable=False),
                    sa.Column('updated_by', sa.String(length=64), nullable=False),
                    sa.Column('updated_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('tenant', 'name', name='uq_plan_sales'))
    with op.batch_alter_table('plan_versions') as b:
        b.add_column(sa.Column('source_solve_id', sa.String(length=36), nullable=True))
        b.create_foreign_key('fk_plan_versions_source_solve', 'solves',
                             ['source_solve_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('plan_versions') as b:
        b.drop_constraint('fk_plan_versions_source_solve', type_='foreignkey')
        b.drop_column('source_solve_id')
    op.drop_table('plan_sales')
