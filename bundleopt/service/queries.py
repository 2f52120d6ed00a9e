"""What the API reads, one tenant's at a time.

Every query takes the tenant as a keyword; what admin tokens read across tenants is a
separate function named ``…_all_tenants``, so reading everything is always a choice
made in plain sight, never a forgotten argument. Each pair shares one query builder
that takes the tenant condition.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import defer
from sqlalchemy.orm import Session

from .models import Audit, Plan, ScenarioRow, Schedule, Solve, WeeklyPlan


# ---------------------------------------------------------------------------- solves
def find_solve(s: Session, solve_id: str, *, tenant: str) -> Solve | None:
    """The tenant's solve ``solve_id``, or ``None`` (also when another tenant's)."""
    x = s.get(Solve, solve_id)
    return x if x is not None and x.tenant == tenant else None


def find_solve_all_tenants(s: Session, solve_id: str) -> Solve | None:
    return s.get(Solve, solve_id)


def _solves(where: ColumnElement[bool], status: str | None, limit: int,
            offset: int) -> Select[Any]:
    q = select(Solve).where(where).order_by(Solve.created_at.desc(), Solve.id)
    if status:
        q = q.where(Solve.status == status)
    return q.limit(limit).offset(offset)


def list_solves(s: Session, *, tenant: str, status: str | None = None, limit: int,
                offset: int = 0) -> Sequence[Solve]:
    """The tenant's solves, newest first, optionally of one status."""
    return s.scalars(_solves(Solve.tenant == tenant, status, limit, offset)).all()


def list_solves_all_tenants(s: Session, *, status: str | None = None, limit: int,
                            offset: int = 0) -> Sequence[Solve]:
    return s.scalars(_solves(true(), status, limit, offset)).all()


def plan_of(s: Session, solve: Solve) -> Plan | None:
    """The plan of a solve the caller has already found (so may see)."""
    return s.scalars(select(Plan).where(Plan.solve_id == solve.id)).first()


def find_scenario(s: Session, digest: str, *, tenant: str) -> ScenarioRow | None:
    """A stored scenario, if one of the tenant's solves used it (scenarios are stored
    once per content, shared by every solve of that content)."""
    used = s.scalar(select(Solve.id).where(Solve.scenario_hash == digest,
                                           Solve.tenant == tenant).limit(1))
    return s.get(ScenarioRow, digest) if used is not None else None


def find_scenario_all_tenants(s: Session, digest: str) -> ScenarioRow | None:
    return s.get(ScenarioRow, digest)


# ------------------------------------------------------------- runs (the web app)
def _runs(where: ColumnElement[bool], name: str | None, week: str | None,
          status: str | None) -> Select[Any]:
    q = (select(Solve, WeeklyPlan).outerjoin(WeeklyPlan, WeeklyPlan.solve_id == Solve.id)
         .where(where).options(defer(Solve.log), defer(Solve.versions)))
    if name:
        q = q.where(WeeklyPlan.name == name)
    if week:
        q = q.where(WeeklyPlan.week == week)
    if status:
        q = q.where(Solve.status == status)
    return q.order_by(Solve.created_at.desc(), Solve.id)


def list_runs(s: Session, *, tenant: str | None, name: str | None = None,
              week: str | None = None, status: str | None = None, limit: int,
              offset: int = 0) -> list[tuple[Solve, WeeklyPlan | None]]:
    """Solves with their weekly plan (if one), newest first; ``tenant=None`` is every
    tenant's (admins: the web app passes it only for an admin session)."""
    where = true() if tenant is None else Solve.tenant == tenant
    return [(a, b) for a, b in s.execute(_runs(where, name, week, status)
                                         .limit(limit).offset(offset)).all()]


def run_counts(s: Session, *, tenant: str | None) -> dict[str, int]:
    """How many solves of each status (``tenant=None``: every tenant's)."""
    q = select(Solve.status, func.count()).group_by(Solve.status)
    if tenant is not None:
        q = q.where(Solve.tenant == tenant)
    return {status: int(n) for status, n in s.execute(q).all()}


# ---------------------------------------------------------------------- weekly plans
def _weeks(where: ColumnElement[bool], name: str | None) -> Select[Any]:
    q = select(WeeklyPlan).where(where).order_by(WeeklyPlan.week.desc(), WeeklyPlan.name)
    return q.where(WeeklyPlan.name == name) if name else q


def list_weekly(s: Session, *, tenant: str, name: str | None = None, limit: int,
                offset: int = 0) -> Sequence[WeeklyPlan]:
    """The tenant's stored weeks (of plan ``name``), newest week first."""
    return s.scalars(_weeks(WeeklyPlan.tenant == tenant, name).limit(limit)
                     .offset(offset)).all()


def list_weekly_all_tenants(s: Session, *, name: str | None = None, limit: int,
                            offset: int = 0) -> Sequence[WeeklyPlan]:
    return s.scalars(_weeks(true(), name).limit(limit).offset(offset)).all()


def find_weekly(s: Session, name: str, week: str, *, tenant: str) -> WeeklyPlan | None:
    return s.scalars(_weeks(WeeklyPlan.tenant == tenant, name)
                     .where(WeeklyPlan.week == week)).first()


def find_weekly_all_tenants(s: Session, name: str, week: str) -> WeeklyPlan | None:
    return s.scalars(_weeks(true(), name).where(WeeklyPlan.week == week)).first()


# ------------------------------------------------------------------ schedules, audit
def list_schedules(s: Session, *, tenant: str) -> Sequence[Schedule]:
    return s.scalars(select(Schedule).where(Schedule.tenant == tenant)
                     .order_by(Schedule.name)).all()


def find_schedule(s: Session, name: str, *, tenant: str) -> Schedule | None:
    return s.scalars(select(Schedule).where(Schedule.tenant == tenant,
                                            Schedule.name == name)).first()


def list_schedules_all_tenants(s: Session) -> Sequence[Schedule]:
    return s.scalars(select(Schedule).order_by(Schedule.name, Schedule.tenant)).all()


def _audit(where: ColumnElement[bool], limit: int, offset: int) -> Select[Any]:
    return select(Audit).where(where).order_by(Audit.id.desc()).limit(limit).offset(offset)


def list_audit(s: Session, *, tenant: str, limit: int, offset: int = 0) -> Sequence[Audit]:
    """The tenant's audit entries, newest first."""
    return s.scalars(_audit(Audit.tenant == tenant, limit, offset)).all()


def list_audit_all_tenants(s: Session, *, limit: int, offset: int = 0) -> Sequence[Audit]:
    return s.scalars(_audit(true(), limit, offset)).all()
