"""Plan versions and review: overridden versions of a week's plan, the week's approval
state, and the web app's sessions.

Existing weeks are ``proposed`` with no approval required (today's behaviour); a week
that was exported is ``exported``.

Revision ID: 0004_plan_versions
Revises: 0003_instances
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004_plan_versions'
down_revision = '0003_instances'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('weekly_plans') as b:
        b.add_column(sa.Column('review', sa.String(length=16), nullable=False,
                               server_default='proposed'))
        b.add_column(sa.Column('approval_required', sa.Boolean(), nullable=False,
                               server_default=sa.false()))
        b.add_column(sa.Column('approved_version', sa.Integer(), nullable=True))
        b.add_column(sa.Column('export_target', sa.Text(), nullable=True))
        b.add_column(sa.Column('reviewed_by', sa.String(length=64), nullable=True))
        b.add_column(sa.Column('reviewed_at', sa.DateTime(), nullable=True))
        b.add_column(sa.Column('review_comment', sa.Text(), nullable=True))
    op.execute("UPDATE weekly_plans SET review = 'exported', export_target = export_dir "
               "WHERE export_dir IS NOT NULL")
    op.create_table('plan_versions',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('weekly_id', sa.Integer(), nullable=False),
                    sa.Column('solve_id', sa.String(length=36), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.Column('base_version', sa.Integer(), nullable=False),
                    sa.Column('rows', sa.JSON(), nullable=False),
                    sa.Column('n_rows', sa.Integer(), nullable=False),
                    sa.Column('changes', sa.JSON(), nullable=False),
                    sa.Column('objective', sa.Float(), nullable=True),
                    sa.Column('kpis', sa.JSON(), nullable=False),
                    sa.Column('binding', sa.JSON(), nullable=False),
                    sa.Column('comment', sa.Text(), nullable=True),
                    sa.Column('created_by', sa.String(length=64), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['weekly_id'], ['weekly_plans.id'],
                                            ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['solve_id'], ['solves.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('weekly_id', 'version', name='uq_plan_versions'))
    op.create_table('web_sessions',
                    sa.Column('id_hash', sa.String(length=64), nullable=False),
                    sa.Column('tenant', sa.String(length=64), nullable=False),
                    sa.Column('actor', sa.String(length=64), nullable=False),
                    sa.Column('admin', sa.Boolean(), nullable=False),
                    sa.Column('csrf', sa.String(length=64), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('expires_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id_hash'))
    # The Runs page lists a tenant's weeks newest first.
    op.create_index('ix_weekly_tenant_created', 'weekly_plans', ['tenant', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_weekly_tenant_created', table_name='weekly_plans')
    op.drop_table('web_sessions')
    op.drop_table('plan_versions')
    with op.batch_alter_table('weekly_plans') as b:
        for col in ('review_comment', 'reviewed_at', 'reviewed_by', 'export_target',
                    'approved_version', 'approval_required', 'review'):
            b.drop_column(col)
