"""Instances: every serve and worker process of a fleet, with its heartbeat; the
instance that claimed each running solve.

Revision ID: 0003_instances
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003_instances'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('instances',
                    sa.Column('id', sa.String(length=128), nullable=False),
                    sa.Column('host', sa.String(length=255), nullable=False),
                    sa.Column('pid', sa.Integer(), nullable=False),
                    sa.Column('role', sa.String(length=16), nullable=False),
                    sa.Column('started_at', sa.DateTime(), nullable=False),
                    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
                    sa.Column('beating_since', sa.DateTime(), nullable=False),
                    sa.Column('stopped_at', sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_instances_heartbeat', 'instances', ['stopped_at', 'heartbeat_at'])
    with op.batch_alter_table('solves') as b:
        b.add_column(sa.Column('instance', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('solves') as b:
        b.drop_column('instance')
    op.drop_index('ix_instances_heartbeat', table_name='instances')
    op.drop_table('instances')
