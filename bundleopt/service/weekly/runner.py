"""Running one week of a weekly plan: ``bundleopt plan run CONFIG --week 2026-W48``.

A run builds the week's scenario (from a scenario directory, an inline scenario, or
re-fitted in-process from the latest demand data with :func:`demand.fit.fit_scenario`),
passes the most recent earlier stored plan of the same configuration as
``previous_plan`` (so ``price_change`` limits hold against what is on the shelf),
solves it in this process (the ``Scenario`` object itself, no JSON round trip), stores
the solve and its plan and exports ``plan.csv`` + ``summary.json``. One row per
(tenant, name, week) in ``weekly_plans`` makes a second run of a finished week a no-op;
a run whose process died is taken over at once when that process is known dead (same
host), else once its lease has expired.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from formulations.errors import BundleoptError, InputError, ParameterError

from .. import queue
from ..db import jsonable, make_engine, session_factory, upgrade
from ..limits import service_time_limit
from ..models import Plan, PlanVersion, Solve, WeeklyPlan, utcnow
from ..worker import execute, hard_deadline
from .config import WeeklyConfig, load_config, parse_week
from .approval import default_version, export_week, exportable_version, shelf_plan
from .export import export_path
from .season import read_sales, season_scenario, store_sales
from .versions import latest_number

DEFAULT_TIME_LIMIT = 300.0
CLAIM_SECONDS = 1800.0   # how long a run may spend building its scenario before the solve

log = logging.getLogger("bundleopt.weekly")


@dataclass(frozen=True)
class WeeklyOutcome:
    """What ``plan run`` did: ``created`` is False when the week was already planned.

    ``result`` is the solve's :class:`solver.api.SolveResult` (rebuilt from the database
    for a week planned before), for :func:`bundleopt.cli.format_summary`; ``leftover``
    names solver threads the solve left running (the process should exit promptly).
    """

    name: str
    week: str
    status: str
    solve_id: str | None
    created: bool
    export_dir: str | None
    previous_week: str | None
    message: str = ""
    result: Any = None
    leftover: tuple[str, ...] = ()


def refits(cfg: WeeklyConfig, refit: bool | None) -> bool:
    """Whether the week re-fits its demand model: as asked, else when the config has
    demand data."""
    return cfg.demand_data is not None if refit is None else bool(refit)


def build_scenario(cfg: WeeklyConfig, refit: bool | None = None) -> Any:
    """The week's scenario: re-fitted in-process from the demand data when configured
    (or asked), else the scenario directory or inline scenario."""
    from formulations.loading import load_scenario, scenario_from_tables

    use_fit = refits(cfg, refit)
    if use_fit and cfg.demand_data is None:
        raise ParameterError("--refit: the config has no demand data to fit from")
    if use_fit:
        from demand.fit import FitOptions, fit_scenario

        try:
            return fit_scenario(cfg.demand_data, None, FitOptions(**cfg.fit_options)).scenario
        except BundleoptError as err:
            if not cfg.confined:
                raise
            # The message may quote a file under the client's data directory.
            raise InputError(cfg.source, f"re-fitting demand failed "
                             f"({type(err).__name__})", field="demand") from None
    if cfg.scenario_tables is not None:
        return scenario_from_tables(cfg.scenario_tables)
    if cfg.scenario is None:
        raise InputError(cfg.source, "no scenario to plan from (the config has only demand "
                         "data and --no-refit was given)", field="scenario")
    try:
        return load_scenario(cfg.scenario)
    except BundleoptError as err:
        if not cfg.confined:
            raise
        raise InputError(cfg.source, f"the scenario directory is not a valid scenario "
                         f"({type(err).__name__}: {getattr(err, 'problem', '')})".rstrip(),
                         field="scenario") from None


def previous_plan(engine: Engine, name: str, week: str, *, tenant: str
                  ) -> tuple[str | None, pd.DataFrame]:
    """The plan on the tenant's shelf before ``week`` (ISO weeks sort as text): the most
    recent earlier week of ``name`` in the version that was approved or exported
    (:func:`.approval.shelf_plan`)."""
    with session_factory(engine)() as s:
        return shelf_plan(s, name, week, tenant=tenant)


def _week_row(name: str, week: str, *, tenant: str) -> Any:
    return (WeeklyPlan.tenant == tenant, WeeklyPlan.name == name, WeeklyPlan.week == week)


def _claim_week(engine: Engine, name: str, week: str, owner: str, lease_seconds: float, *,
                tenant: str) -> WeeklyPlan | None:
    """Take (tenant, name, week) for this run; ``None`` if done or someone else is on it.

    A running claim is taken over when its lease expired, or at once when its owner is
    a process on this host that no longer exists (a killed ``plan run``).
    """
    Sessions = session_factory(engine)
    now = utcnow()
    lease = now + timedelta(seconds=lease_seconds)
    with Sessions() as s:
        try:
            s.add(WeeklyPlan(tenant=tenant, name=name, week=week, status="running",
                             owner=owner, lease_until=lease, created_at=now))
            s.commit()
        except IntegrityError:
            s.rollback()
            current = s.scalars(select(WeeklyPlan).where(*_week_row(name, week, tenant=tenant))
                                ).one()
            dead = [current.owner] if (current.status == "running"
                                       and queue.owner_dead(current.owner)) else []
            res = s.execute(update(WeeklyPlan).where(
                *_week_row(name, week, tenant=tenant),
                or_(WeeklyPlan.status == "failed",
                    (WeeklyPlan.status == "done") & (WeeklyPlan.review == "rejected"),
                    (WeeklyPlan.status == "running") & (WeeklyPlan.lease_until < now),
                    (WeeklyPlan.status == "running") & WeeklyPlan.owner.in_(dead)))
                .values(status="running", owner=owner, lease_until=lease, error=None,
                        review="proposed", approved_version=None, export_dir=None))
            s.commit()
            if res.rowcount == 0:
                return None
        w = s.scalars(select(WeeklyPlan).where(*_week_row(name, week, tenant=tenant))).one()
        if w.solve_id is not None:
            # A run that died mid-solve: its solve will never be finished by anyone. (A
            # queued weekly solve is a queue entry: the workers finish it; see .queued.)
            s.execute(update(Solve).where(Solve.id == w.solve_id, Solve.status == "running",
                                          Solve.source == "weekly")
                      .values(status="failed", error="the plan run was interrupted",
                              finished_at=now))
            s.commit()
        return w


def run_week(config: str | os.PathLike[str] | WeeklyConfig, week: str, *,
             db_url: str | None = None, engine: Engine | None = None,
             refit: bool | None = None, out: str | os.PathLike[str] | None = None,
             tenant: str, sales: str | os.PathLike[str] | None = None,
             started: float | None = None) -> WeeklyOutcome:
    """Plan one week of ``config`` for ``tenant`` (idempotent: a finished week is
    returned unchanged). The CLI's ``plan run`` passes ``models.DEFAULT_TENANT``.

    A season config (``season:``, :mod:`.season`) re-plans the season from ``week`` on,
    from the ``sales`` file (stored as the plan's sales once it is checked; default: the
    sales stored before); a finished week of a season gets a new version of its plan.

    The solve's time limit counts from ``started`` (a ``time.monotonic()`` value; the CLI
    passes its own start), so that reading the config, the database and the sales count
    too, as they do for ``bundleopt solve``; default: from the solve's start. A week that
    re-fits its demand model counts from the end of the fit instead (a fit may take
    longer than the solve it feeds)."""
    parse_week(week)
    cfg = config if isinstance(config, WeeklyConfig) else load_config(config)
    if refits(cfg, refit):
        started = None
    if sales is not None and not cfg.season:
        raise InputError(cfg.source, "--sales: the config declares no season", field="season")
    frame = read_sales(sales) if sales is not None else None
    engine = engine or make_engine(db_url)
    upgrade(engine)
    ready = None
    if cfg.season:
        # Everything checked (the sales against the season's stock) before anything is written.
        ready = prepare_week(engine, cfg, week, refit, tenant=tenant, sales=frame)
        if frame is not None:
            with session_factory(engine)() as s:
                store_sales(s, cfg.name, frame, tenant=tenant, actor=f"weekly:{cfg.name}")
                s.commit()
    owner = queue.worker_name("weekly")
    # Long enough to build (and re-fit) the scenario; extended once the time limit is known.
    w = _claim_week(engine, cfg.name, week, owner, CLAIM_SECONDS, tenant=tenant)
    if w is None:
        if ready is not None:
            return replan_version(engine, cfg, week, owner, ready, out, tenant=tenant,
                                  started=started)
        return _existing(engine, cfg, week, out, tenant=tenant)
    try:
        return _plan(engine, cfg, week, owner, refit, out, tenant=tenant, ready=ready,
                     started=started)
    except BaseException as err:
        with session_factory(engine)() as s:
            s.execute(update(WeeklyPlan).where(*_week_row(cfg.name, week, tenant=tenant),
                                               WeeklyPlan.owner == owner)
                      .values(status="failed", error=str(err)[:2000], lease_until=None))
            s.commit()
        raise


@dataclass(frozen=True)
class PreparedWeek:
    """A week's scenario made ready to solve: the scenario against last week's plan, the
    solver options, the JSON payload stored for it and the week it is held against."""

    scenario: Any
    options: dict[str, Any]
    payload: dict[str, Any]
    previous_week: str | None


def prepare_week(engine: Engine, cfg: WeeklyConfig, week: str, refit: bool | None, *,
                 tenant: str, sales: pd.DataFrame | None = None) -> PreparedWeek:
    """Build the week's scenario (:func:`build_scenario`) held against the tenant's most
    recent earlier plan — for a season, the season from ``week`` on, re-planned from
    the sales and the published weeks (:func:`.season.season_scenario`) — and its
    solver options."""
    from formulations.loading import scenario_to_tables

    scenario = build_scenario(cfg, refit)
    if cfg.max_price_change is not None:
        scenario = scenario.with_constraints(max_price_change=cfg.max_price_change)
    if cfg.season:
        with session_factory(engine)() as s:
            scenario, prev_week = season_scenario(s, cfg, scenario, week, tenant=tenant,
                                                  sales=sales)
        prev = None
    else:
        prev_week, prev = previous_plan(engine, cfg.name, week, tenant=tenant)
    if prev_week is not None and prev is not None:
        # Offers or segments gone since (a re-fit may change them) cannot be "on sale in
        # both plans", so their rows constrain nothing and are dropped.
        keep = prev["bundle_id"].isin(scenario.bundles.index) & (
            prev["segment_id"].isin(scenario.segments.index) | (prev["segment_id"] == "*"))
        scenario = scenario.replace(previous_plan=prev[keep].reset_index(drop=True))
    # Solver options: the config's, else the scenario's, else the weekly default.
    o = scenario.solver
    opts = {"backend": cfg.solver.get("backend") or o.backend,
            "time_limit": service_time_limit(cfg.solver.get("time_limit") or o.time_limit,
                                             DEFAULT_TIME_LIMIT),
            "mip_gap": cfg.solver.get("mip_gap", o.mip_gap),
            "threads": cfg.solver.get("threads", o.threads)}
    # Stored for reproducibility; an in-process solve gets the Scenario object itself.
    return PreparedWeek(scenario, opts, jsonable(scenario_to_tables(scenario)), prev_week)


def _plan(engine: Engine, cfg: WeeklyConfig, week: str, owner: str, refit: bool | None,
          out: Any, *, tenant: str, ready: PreparedWeek | None = None,
          started: float | None = None) -> WeeklyOutcome:
    ready = ready or prepare_week(engine, cfg, week, refit, tenant=tenant)
    scenario, opts, payload, prev_week = (ready.scenario, ready.options, ready.payload,
                                          ready.previous_week)
    Sessions = session_factory(engine)
    with Sessions() as s:
        solve = _running_solve(s, cfg, ready, owner, tenant)
        s.execute(update(WeeklyPlan).where(*_week_row(cfg.name, week, tenant=tenant))
                  .values(solve_id=solve.id, previous_week=prev_week,
                          lease_until=utcnow() + timedelta(
                              seconds=hard_deadline(opts["time_limit"]) + CLAIM_SECONDS)))
        s.commit()
        solve_id = solve.id
    done = execute(engine, solve_id, owner, None, opts, lease_seconds=60,
                   heartbeat_seconds=2.0, scenario=scenario, started=started)
    status = done.status
    message, export_dir = close_week(engine, cfg, week, owner, solve_id, status, out,
                                     tenant=tenant)
    return WeeklyOutcome(cfg.name, week, str(status), solve_id, True, export_dir, prev_week,
                         message, done.result, tuple(done.leftover))


def _running_solve(s: Any, cfg: WeeklyConfig, ready: PreparedWeek, owner: str,
                   tenant: str) -> Solve:
    """The week's solve stored as running in this process (the caller commits)."""
    solve, _ = queue.enqueue(s, payload=ready.payload, n_offers=len(ready.scenario.bundles),
                             n_segments=len(ready.scenario.segments), options=ready.options,
                             actor=f"weekly:{cfg.name}", source="weekly",
                             status="running", tenant=tenant)
    s.execute(update(Solve).where(Solve.id == solve.id).values(
        worker=owner, attempts=1, started_at=utcnow(),
        lease_until=utcnow() + timedelta(seconds=60)))
    return solve


def replan_version(engine: Engine, cfg: WeeklyConfig, week: str, owner: str,
                   ready: PreparedWeek, out: Any, *, tenant: str,
                   started: float | None = None) -> WeeklyOutcome:
    """Re-plan a finished season week: solve ``ready`` and store its plan as the week's
    next version (:mod:`.versions`), which is what is published — approved and
    exported at once without ``approval: required``, else once approved (the version
    approved before stays published until then)."""
    Sessions = session_factory(engine)
    with Sessions() as s:
        w = s.scalars(select(WeeklyPlan).where(*_week_row(cfg.name, week, tenant=tenant))).one()
        if w.status != "done" or w.solve_id is None:
            raise BundleoptError(f"week {week} of {cfg.name!r} is being planned by "
                                 f"{w.owner} right now; try again later")
        solve_id = _running_solve(s, cfg, ready, owner, tenant).id
        s.commit()
    done = execute(engine, solve_id, owner, None, ready.options, lease_seconds=60,
                   heartbeat_seconds=2.0, scenario=ready.scenario, started=started)
    status, export_dir = str(done.status), None
    if status not in ("optimal", "feasible"):
        return WeeklyOutcome(cfg.name, week, status, solve_id, False, None,
                             ready.previous_week, f"week {week}: re-plan {status}; the "
                             "published version is unchanged", done.result,
                             tuple(done.leftover))
    with Sessions() as s:
        w = s.scalars(select(WeeklyPlan).where(*_week_row(cfg.name, week, tenant=tenant))).one()
        new = s.get(Solve, solve_id)
        rows = s.scalars(select(Plan).where(Plan.solve_id == solve_id)).one().rows
        summary = dict(new.summary or {})
        number = latest_number(s, w) + 1
        s.add(PlanVersion(weekly_id=w.id, solve_id=w.solve_id, version=number,
                          base_version=default_version(w), rows=rows, n_rows=len(rows),
                          changes=[], objective=new.objective,
                          kpis=jsonable(summary.get("kpis") or {}),
                          binding=list(summary.get("binding_constraints") or []),
                          comment=f"re-planned from the sales since the season's start "
                                  f"(solve {solve_id})", created_by=f"weekly:{cfg.name}",
                          source_solve_id=solve_id))
        s.flush()
        if not w.approval_required:
            w.approved_version, w.review = number, "approved"
            w.reviewed_by, w.reviewed_at = f"weekly:{cfg.name}"[:64], utcnow()
            w.export_target = export_path(cfg, week, out)
            export_dir = export_week(s, w, actor=f"weekly:{cfg.name}", source=cfg.source,
                                     show_path=not cfg.confined)
        s.commit()
    message = f"week {week}: {status}, re-planned as version {number}" + (
        f" and written to {export_dir}" if export_dir else
        ", awaiting approval before export" if w.approval_required else "")
    return WeeklyOutcome(cfg.name, week, status, solve_id, True, export_dir,
                         ready.previous_week, message, done.result, tuple(done.leftover))


def close_week(engine: Engine, cfg: WeeklyConfig, week: str, owner: str, solve_id: str,
               status: str | None, out: Any, *, tenant: str) -> tuple[str, str | None]:
    """Record the week's outcome once its solve ended with ``status``: the plan exported
    and the week ``done``, or the week ``failed`` with the solve's error (only while
    ``owner`` holds the week). Its message and export directory."""
    export_dir = None
    with session_factory(engine)() as s:
        stored = s.get(Solve, solve_id)
        w = s.scalars(select(WeeklyPlan).where(*_week_row(cfg.name, week, tenant=tenant),
                                               WeeklyPlan.owner == owner)).first()
        if w is not None and status in ("optimal", "feasible"):
            w.status = "done"   # planned; the export (if any) goes through the gate
            w.approval_required = cfg.approval == "required"
            w.export_target = export_path(cfg, week, out)
            export_dir = export_week(s, w, actor=f"weekly:{cfg.name}", source=cfg.source,
                                     show_path=not cfg.confined)
            values: dict[str, Any] = {"status": "done", "export_dir": export_dir}
            message = f"week {week}: {status}, plan stored" + (
                f" and written to {export_dir}" if export_dir else
                ", awaiting approval before export" if w.approval_required else "")
        elif status in ("optimal", "feasible"):
            values, message = {}, f"week {week}: {status}; another run took the week over"
        else:
            values = {"status": "failed",
                      "error": f"solve {status}: {stored.error or ''}".strip()}
            message = f"week {week}: {status}; no plan stored" + (
                f" ({stored.error.splitlines()[0]})" if stored.error else "")
        s.flush()
        s.execute(update(WeeklyPlan).where(*_week_row(cfg.name, week, tenant=tenant),
                                           WeeklyPlan.owner == owner)
                  .values(finished_at=utcnow(), lease_until=None, **values))
        s.commit()
    return message, export_dir


def _existing(engine: Engine, cfg: WeeklyConfig, week: str, out: Any, *,
              tenant: str) -> WeeklyOutcome:
    with session_factory(engine)() as s:
        w = s.scalars(select(WeeklyPlan).where(*_week_row(cfg.name, week,
                                                          tenant=tenant))).one()
        if w.status != "done":
            raise BundleoptError(f"week {week} of {cfg.name!r} is being planned by "
                                 f"{w.owner} right now; try again later")
        export_dir = w.export_dir
        target = export_path(cfg, week, out)
        message = f"week {week} already planned (solve {w.solve_id}); unchanged"
        if target is not None and not (Path(target) / "plan.csv").exists():
            # The stored plan is the truth; the export is a copy we may rewrite, in the
            # version the review allows (none while approval is awaited or refused).
            export_dir = export_week(s, w, actor=f"weekly:{cfg.name}", target=target,
                                     source=cfg.source, show_path=not cfg.confined)
            s.commit()
            if export_dir is None and exportable_version(w) is None:
                message = (f"week {week} already planned (solve {w.solve_id}); not exported: "
                           + ("it was rejected" if w.review == "rejected"
                              else "it awaits approval"))
        solve = s.get(Solve, w.solve_id)
        plan = s.scalars(select(Plan).where(Plan.solve_id == w.solve_id)).first()
        return WeeklyOutcome(cfg.name, week, solve.status if solve else "done", w.solve_id,
                             False, export_dir, w.previous_week, message,
                             stored_result(solve, plan.rows if plan else []) if solve
                             else None)


def stored_result(solve: Solve, rows: list[dict[str, Any]]) -> Any:
    """A :class:`solver.api.SolveResult` rebuilt from a stored solve (for its summary)."""
    from solver.api import SolveResult

    return SolveResult(status=solve.status, objective=solve.objective, bound=solve.bound,
                       gap=solve.gap, backend=solve.backend or "",
                       build_seconds=solve.build_seconds or 0.0,
                       solve_seconds=solve.solve_seconds or 0.0, plan=pd.DataFrame(rows),
                       summary=dict(solve.summary or {}), log=solve.log or "")
