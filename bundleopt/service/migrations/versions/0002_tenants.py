"""Tenants, per-tenant names and idempotency keys, crash counts, cancel times, health row.

Every existing row goes to the tenant ``default``. Idempotency keys become unique per
tenant instead of per token: where two old tokens used the same key, the oldest solve
keeps it and the later ones lose it (they stay readable; only the key is cleared).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

DEFAULT = "default"


def _tenant() -> sa.Column:
    return sa.Column('tenant', sa.String(length=64), nullable=False, server_default=DEFAULT)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(
        "UPDATE solves SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND "
        "EXISTS (SELECT 1 FROM solves o WHERE o.idempotency_key = solves.idempotency_key "
        "AND (o.created_at < solves.created_at OR "
        "(o.created_at = solves.created_at AND o.id < solves.id)))")
    with op.batch_alter_table('solves') as b:
        b.add_column(_tenant())
        b.add_column(sa.Column('crashes', sa.Integer(), nullable=False, server_default='0'))
        b.add_column(sa.Column('cancel_requested_at', sa.DateTime(), nullable=True))
        b.drop_constraint('uq_solves_idempotency', type_='unique')
        b.create_unique_constraint('uq_solves_tenant_idempotency', ['tenant', 'idempotency_key'])
        b.create_index('ix_solves_tenant_started', ['tenant', 'started_at'])
        b.create_index('ix_solves_tenant_created', ['tenant', 'created_at'])
    # 0001 left the schedules' unique name unnamed: SQLite reflects it through a naming
    # convention, PostgreSQL named it itself.
    conv = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
    with op.batch_alter_table('schedules', naming_convention=conv) as b:
        b.add_column(_tenant())
        b.add_column(sa.Column('config_inline', sa.JSON(), nullable=True))
        b.drop_constraint('uq_schedules_name' if sqlite else 'schedules_name_key',
                          type_='unique')
        b.create_unique_constraint('uq_schedules_tenant_name', ['tenant', 'name'])
    with op.batch_alter_table('weekly_plans') as b:
        b.add_column(_tenant())
        b.drop_constraint('uq_weekly_name_week', type_='unique')
        b.create_unique_constraint('uq_weekly_tenant_name_week', ['tenant', 'name', 'week'])
    with op.batch_alter_table('audit') as b:
        b.add_column(_tenant())
        b.create_index('ix_audit_tenant_id', ['tenant', 'id'])
    op.create_table('service_health',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))


def downgrade() -> None:
    op.drop_table('service_health')
    with op.batch_alter_table('audit') as b:
        b.drop_index('ix_audit_tenant_id')
        b.drop_column('tenant')
    with op.batch_alter_table('weekly_plans') as b:
        b.drop_constraint('uq_weekly_tenant_name_week', type_='unique')
        b.create_unique_constraint('uq_weekly_name_week', ['name', 'week'])
        b.drop_column('tenant')
    with op.batch_alter_table('schedules') as b:
        b.drop_constraint('uq_schedules_tenant_name', type_='unique')
        b.create_unique_constraint('uq_schedules_name', ['name'])
        b.drop_column('config_inline')
        b.drop_column('tenant')
    with op.batch_alter_table('solves') as b:
        b.drop_index('ix_solves_tenant_created')
        b.drop_index('ix_solves_tenant_started')
        b.drop_constraint('uq_solves_tenant_idempotency', type_='unique')
        b.create_unique_constraint('uq_solves_idempotency', ['submitted_by', 'idempotency_key'])
        b.drop_column('cancel_requested_at')
        b.drop_column('crashes')
        b.drop_column('tenant')
