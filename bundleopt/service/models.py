"""The service's tables (SQLAlchemy 2 typed ORM).

The schema is created and changed only by the Alembic migrations in
``bundleopt/service/migrations``; these classes must match them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from solver.status import STATUSES

#: Solve statuses: the service's own two waiting states, the solver's (one vocabulary,
#: solver.status), and the service's two endings; all but the first two are terminal.
SOLVE_STATUSES = ("queued", "running") + STATUSES + ("failed", "cancelled")
TERMINAL = frozenset(SOLVE_STATUSES[2:])
#: The tenant of rows from before tenants existed, and of the CLI's ``plan run``.
DEFAULT_TENANT = "default"


def utcnow() -> datetime:
    """Timezone-aware now; all stored times are UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """UTC instants stored as naive timestamps, so SQLite and PostgreSQL compare alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ScenarioRow(Base):
    """A scenario payload (SERVICE.md JSON form), stored once per content hash."""

    __tablename__ = "scenarios"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]]
    n_offers: Mapped[int] = mapped_column(Integer)
    n_segments: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Solve(Base):
    """One solve request and, once run, its outcome."""

    __tablename__ = "solves"
    __table_args__ = (
        UniqueConstraint("tenant", "idempotency_key", name="uq_solves_tenant_idempotency"),
        Index("ix_solves_status_created", "status", "created_at"),
        Index("ix_solves_tenant_started", "tenant", "started_at"),
        Index("ix_solves_tenant_created", "tenant", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    scenario_hash: Mapped[str] = mapped_column(ForeignKey("scenarios.hash"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    options: Mapped[dict[str, Any]]
    submitted_by: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(32), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Deaths of this solve's worker while the service lived; service-wide crashes do not count.
    crashes: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The instance (serve or worker node) whose worker process claimed it (instances.id).
    instance: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    objective: Mapped[float | None] = mapped_column(Float, nullable=True)
    bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    gap: Mapped[float | None] = mapped_column(Float, nullable=True)
    backend: Mapped[str | None] = mapped_column(String(16), nullable=True)
    build_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    solve_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    log: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    versions: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Plan(Base):
    """The plan.csv rows of a finished solve that has a plan."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    solve_id: Mapped[str] = mapped_column(ForeignKey("solves.id"), unique=True)
    rows: Mapped[list[Any]]
    n_rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WeeklyPlan(Base):
    """One week of one planning configuration: at most one per (name, week)."""

    __tablename__ = "weekly_plans"
    __table_args__ = (UniqueConstraint("tenant", "name", "week",
                                       name="uq_weekly_tenant_name_week"),
                      Index("ix_weekly_tenant_created", "tenant", "created_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    name: Mapped[str] = mapped_column(String(128))
    week: Mapped[str] = mapped_column(String(8))            # ISO week, "2026-W48"
    status: Mapped[str] = mapped_column(String(16))         # running | done | failed
    solve_id: Mapped[str | None] = mapped_column(ForeignKey("solves.id"), nullable=True)
    previous_week: Mapped[str | None] = mapped_column(String(8), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    export_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Review (weekly/approval.py): proposed -> approved | rejected -> exported.
    review: Mapped[str] = mapped_column(String(16), default="proposed")
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Where the week's plan is exported (from the operator's config), even before it is.
    export_target: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_comment: Mapped[str | None] = mapped_column(Text, nullable=True)


#: A week's review states (weekly/approval.py).
REVIEW_STATES = ("proposed", "approved", "rejected", "exported")


class PlanVersion(Base):
    """An overridden version of a week's plan (version 0, the optimizer's, is the solve's
    own plan and is not stored here); re-evaluated from the week's scenario."""

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("weekly_id", "version", name="uq_plan_versions"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    weekly_id: Mapped[int] = mapped_column(ForeignKey("weekly_plans.id", ondelete="CASCADE"))
    solve_id: Mapped[str] = mapped_column(ForeignKey("solves.id"))
    version: Mapped[int] = mapped_column(Integer)
    base_version: Mapped[int] = mapped_column(Integer)
    rows: Mapped[list[Any]]
    n_rows: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list[Any]]
    objective: Mapped[float | None] = mapped_column(Float, nullable=True)
    kpis: Mapped[dict[str, Any]]
    binding: Mapped[list[Any]]
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A season week re-planned from sales (weekly.runner.replan_version): the solve that
    # made this version, whose scenario and bound the version is judged by; overrides
    # of it inherit it. None: the week's own solve.
    source_solve_id: Mapped[str | None] = mapped_column(ForeignKey("solves.id"),
                                                        nullable=True)


class PlanSales(Base):
    """Units sold since a season's start, per plan (SCENARIO.md §8 "Re-planning"): the
    rows of the latest ``POST /v1/plans/{name}/sales`` or ``plan run --sales``, which
    the plan's next run re-plans from (``.weekly.season``)."""

    __tablename__ = "plan_sales"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_plan_sales"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    name: Mapped[str] = mapped_column(String(128))
    by: Mapped[str] = mapped_column(String(8))          # week | period
    rows: Mapped[list[Any]]                             # [key, product_id, units]
    n_rows: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebSession(Base):
    """A signed-in browser (the web app, /app/): found by the hash of its cookie."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))     # the token's fingerprint
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Schedule(Base):
    """A cron-style schedule that runs a weekly plan configuration."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_schedules_tenant_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    name: Mapped[str] = mapped_column(String(128))
    cron: Mapped[str] = mapped_column(String(128))
    # A path inside the operator's config roots, or "inline" with the config itself below.
    config: Mapped[str] = mapped_column(Text)
    config_inline: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    week_offset: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ScheduleRun(Base):
    """One claimed occurrence of a schedule; the unique key forbids running it twice."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "scheduled_for", name="uq_schedule_run"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    week: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))         # running | done | failed
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Audit(Base):
    """Who did what: every accepted submission, cancellation and schedule change."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_tenant_id", "tenant", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(128), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Health(Base):
    """One row that ``/healthz`` rewrites to prove the database takes writes."""

    __tablename__ = "service_health"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Instance(Base):
    """One ``serve`` or ``worker`` process of the fleet, from start to stop.

    ``heartbeat_at`` is rewritten every few seconds while it lives; ``stopped_at`` is set
    when it stops cleanly. An instance neither stopped nor heard from lately died: the
    running solves it held were lost through no fault of theirs (:mod:`.instances`).
    """

    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_heartbeat", "stopped_at", "heartbeat_at"),)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))             # serve | worker
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The start of the current unbroken run of heartbeats: later than a solve's lease
    # end, it says the instance itself could not beat (the database was away) when the
    # lease lapsed.
    beating_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
