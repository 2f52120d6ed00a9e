"""Weekly plans: ``bundleopt plan run CONFIG --week 2026-W48``.

A run builds the week's scenario (from a scenario directory, or re-fitted from the
latest demand data with ``bundleopt fit``), passes the most recent earlier stored plan
of the same configuration as ``previous_plan`` (so ``price_change`` limits hold
against what is on the shelf), solves it, stores the solve and its plan and exports
``plan.csv`` + ``summary.json``. One row per (name, week) in ``weekly_plans`` makes a
second run of a finished week a no-op; a run whose process died is taken over once its
lease has expired.

Config (YAML; paths relative to the config file)::

    name: store-42              # key of the stored weeks (default: the file's stem)
    scenario: base_scenario     # scenario directory (SCENARIO.md)
    demand:                     # optional: re-fit WTP from the latest data each week
      data: data                # DATA.md directory, passed to `bundleopt fit`
      args: []                  # extra `bundleopt fit` arguments
    max_price_change: 0.10      # optional: sets price_change.max_relative
    export: plans/{name}/{week} # optional: where plan.csv and summary.json go
    solver: {backend: highs, time_limit: 120}   # optional; else scenario.yaml's, else 300 s
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from formulations.errors import BundleoptError, InputError, ParameterError

from . import queue
from .db import jsonable, make_engine, session_factory, upgrade
from .models import Plan, Solve, WeeklyPlan, utcnow
from .worker import execute, hard_deadline

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
CONFIG_KEYS = ("name", "scenario", "demand", "max_price_change", "export", "solver")
DEFAULT_TIME_LIMIT = 300.0
CLAIM_SECONDS = 1800.0   # how long a run may spend building its scenario before the solve


@dataclass(frozen=True)
class WeeklyConfig:
    """A parsed weekly plan configuration."""

    path: Path
    name: str
    scenario: Path | None
    demand_data: Path | None
    demand_args: tuple[str, ...]
    max_price_change: float | None
    export: str
    solver: dict[str, Any]


@dataclass(frozen=True)
class WeeklyOutcome:
    """What ``plan run`` did: ``created`` is False when the week was already planned."""

    name: str
    week: str
    status: str
    solve_id: str | None
    created: bool
    export_dir: str | None
    previous_week: str | None
    message: str = ""


def parse_week(week: str) -> date:
    """Monday of an ISO week ``YYYY-Www``; ParameterError if it is not one."""
    m = WEEK_RE.match(week or "")
    if not m:
        raise ParameterError(f"--week: {week!r} is not an ISO week like 2026-W48")
    try:
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ParameterError(f"--week: {week} does not exist "
                             f"(year {m.group(1)} has no week {m.group(2)})") from None


def iso_week(day: date) -> str:
    """The ISO week ``YYYY-Www`` containing ``day``."""
    y, w, _ = day.isocalendar()
    return f"{y:04d}-W{w:02d}"


def shift_week(week: str, weeks: int) -> str:
    """The ISO week ``weeks`` after ``week`` (negative: before)."""
    return iso_week(parse_week(week) + timedelta(weeks=weeks))


def load_config(path: str | os.PathLike[str]) -> WeeklyConfig:
    """Read and check a weekly config; InputError names the file and the key."""
    p = Path(path)
    src = str(p)
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise InputError(src, "file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(src, f"cannot read: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError(src, f"not valid YAML: {getattr(err, 'problem', err)}",
                         row=mark.line + 1 if mark else None) from None
    if not isinstance(raw, dict):
        raise InputError(src, "expected a mapping of config keys")
    for key in raw:
        if key not in CONFIG_KEYS:
            raise InputError(src, f"unknown key; expected one of {', '.join(CONFIG_KEYS)}",
                             field=str(key))
    base = p.resolve().parent
    name = raw.get("name", p.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name):
        raise InputError(src, "must be 1-128 letters, digits, '_', '.' or '-'", field="name")
    scenario = raw.get("scenario")
    demand = raw.get("demand")
    if scenario is None and demand is None:
        raise InputError(src, "give a scenario directory or demand data", field="scenario")
    if scenario is not None and not isinstance(scenario, str):
        raise InputError(src, "expected a directory path", field="scenario")
    data, args = None, ()
    if demand is not None:
        if not isinstance(demand, dict) or not isinstance(demand.get("data"), str):
            raise InputError(src, "expected {data: DIR, args: [...]}", field="demand")
        if not isinstance(demand.get("args", []), list):
            raise InputError(src, "expected a list of arguments", field="demand.args")
        data, args = base / demand["data"], tuple(str(a) for a in demand.get("args", []))
    mpc = raw.get("max_price_change")
    if mpc is not None and (isinstance(mpc, bool) or not isinstance(mpc, (int, float))
                            or mpc < 0):
        raise InputError(src, "expected a number ≥ 0", field="max_price_change")
    export = raw.get("export", "plans/{name}/{week}")
    if not isinstance(export, str):
        raise InputError(src, "expected a path pattern", field="export")
    solver = raw.get("solver") or {}
    if not isinstance(solver, dict) or set(solver) - {"backend", "time_limit", "mip_gap",
                                                       "threads"}:
        raise InputError(src, "expected {backend, time_limit, mip_gap, threads}",
                         field="solver")
    return WeeklyConfig(path=p.resolve(), name=name,
                        scenario=base / scenario if scenario else None, demand_data=data,
                        demand_args=args, max_price_change=float(mpc) if mpc is not None
                        else None, export=str(base / export), solver=dict(solver))


def build_scenario(cfg: WeeklyConfig, refit: bool | None = None) -> Any:
    """The week's scenario: re-fitted from the demand data when configured (or asked)."""
    from formulations.loading import load_scenario

    use_fit = cfg.demand_data is not None if refit is None else refit
    if use_fit and cfg.demand_data is None:
        raise ParameterError("--refit: the config has no demand data to fit from")
    if not use_fit:
        return load_scenario(cfg.scenario)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="bundleopt-fit-") as tmp:
        out = Path(tmp) / "scenario"
        cmd = [sys.executable, "-m", "solver.cli", "fit", str(cfg.demand_data), "--out",
               str(out), *cfg.demand_args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise InputError(str(cfg.path), f"re-fitting demand failed: {last}",
                             field="demand")
        return load_scenario(out)


def previous_plan(engine: Engine, name: str, week: str) -> tuple[str | None, pd.DataFrame]:
    """The most recent finished plan of ``name`` before ``week`` (ISO weeks sort as text)."""
    with session_factory(engine)() as s:
        w = s.scalars(select(WeeklyPlan).where(
            WeeklyPlan.name == name, WeeklyPlan.week < week, WeeklyPlan.status == "done")
            .order_by(WeeklyPlan.week.desc()).limit(1)).first()
        if w is None:
            return None, pd.DataFrame(columns=["bundle_id", "segment_id", "price"])
        plan = s.scalars(select(Plan).where(Plan.solve_id == w.solve_id)).one()
        rows = pd.DataFrame(plan.rows)
    frame = pd.DataFrame({"bundle_id": rows["bundle_id"].astype(str),
                          "segment_id": rows["segment_id"].astype(str),
                          "price": rows["price"].astype(float)})
    return w.week, frame


def _claim_week(engine: Engine, name: str, week: str, owner: str,
                lease_seconds: float) -> WeeklyPlan | None:
    """Take (name, week) for this run; ``None`` if it is done or someone else is on it."""
    Sessions = session_factory(engine)
    now = utcnow()
    lease = now + timedelta(seconds=lease_seconds)
    with Sessions() as s:
        try:
            s.add(WeeklyPlan(name=name, week=week, status="running", owner=owner,
                             lease_until=lease, created_at=now))
            s.commit()
        except IntegrityError:
            s.rollback()
            res = s.execute(update(WeeklyPlan).where(
                WeeklyPlan.name == name, WeeklyPlan.week == week,
                or_(WeeklyPlan.status == "failed",
                    (WeeklyPlan.status == "running") & (WeeklyPlan.lease_until < now)))
                .values(status="running", owner=owner, lease_until=lease, error=None))
            s.commit()
            if res.rowcount == 0:
                return None
        w = s.scalars(select(WeeklyPlan).where(WeeklyPlan.name == name,
                                               WeeklyPlan.week == week)).one()
        if w.solve_id is not None:
            # A run that died mid-solve: its solve will never be finished by anyone.
            s.execute(update(Solve).where(Solve.id == w.solve_id, Solve.status == "running")
                      .values(status="failed", error="the plan run was interrupted",
                              finished_at=now))
            s.commit()
        return w


def run_week(config: str | os.PathLike[str], week: str, *, db_url: str | None = None,
             engine: Engine | None = None, refit: bool | None = None,
             out: str | os.PathLike[str] | None = None) -> WeeklyOutcome:
    """Plan one week of ``config`` (idempotent: a finished week is returned unchanged)."""
    parse_week(week)
    cfg = load_config(config)
    engine = engine or make_engine(db_url)
    upgrade(engine)
    owner = queue.worker_name("weekly")
    # Long enough to build (and re-fit) the scenario; extended once the time limit is known.
    w = _claim_week(engine, cfg.name, week, owner, CLAIM_SECONDS)
    if w is None:
        return _existing(engine, cfg, week, out)
    try:
        return _plan(engine, cfg, week, owner, refit, out)
    except BaseException as err:
        with session_factory(engine)() as s:
            s.execute(update(WeeklyPlan).where(WeeklyPlan.name == cfg.name,
                                               WeeklyPlan.week == week,
                                               WeeklyPlan.owner == owner)
                      .values(status="failed", error=str(err)[:2000], lease_until=None))
            s.commit()
        raise


def _plan(engine: Engine, cfg: WeeklyConfig, week: str, owner: str, refit: bool | None,
          out: Any) -> WeeklyOutcome:
    from formulations.loading import scenario_to_tables

    scenario = build_scenario(cfg, refit)
    if cfg.max_price_change is not None:
        scenario = scenario.with_constraints(max_price_change=cfg.max_price_change)
    prev_week, prev = previous_plan(engine, cfg.name, week)
    if prev_week is not None:
        # Offers or segments gone since (a re-fit may change them) cannot be "on sale in
        # both plans", so their rows constrain nothing and are dropped.
        keep = prev["bundle_id"].isin(scenario.bundles.index) & (
            prev["segment_id"].isin(scenario.segments.index) | (prev["segment_id"] == "*"))
        scenario = scenario.replace(previous_plan=prev[keep].reset_index(drop=True))
    # Solver options: the config's, else the scenario's, else the weekly default.
    o = scenario.solver
    opts = {"backend": cfg.solver.get("backend") or o.backend,
            "time_limit": float(cfg.solver.get("time_limit") or o.time_limit
                                or DEFAULT_TIME_LIMIT),
            "mip_gap": cfg.solver.get("mip_gap", o.mip_gap),
            "threads": cfg.solver.get("threads", o.threads)}
    payload = jsonable(scenario_to_tables(scenario))
    Sessions = session_factory(engine)
    with Sessions() as s:
        solve, _ = queue.enqueue(s, payload=payload, n_offers=len(scenario.bundles),
                                 n_segments=len(scenario.segments), options=opts,
                                 actor=f"weekly:{cfg.name}", source="weekly",
                                 status="running")
        s.execute(update(Solve).where(Solve.id == solve.id).values(
            worker=owner, attempts=1, started_at=utcnow(),
            lease_until=utcnow() + timedelta(seconds=60)))
        s.execute(update(WeeklyPlan).where(WeeklyPlan.name == cfg.name,
                                           WeeklyPlan.week == week)
                  .values(solve_id=solve.id, previous_week=prev_week,
                          lease_until=utcnow() + timedelta(
                              seconds=hard_deadline(opts["time_limit"]) + CLAIM_SECONDS)))
        s.commit()
        solve_id = solve.id
    status = execute(engine, solve_id, owner, payload, opts, lease_seconds=60,
                     heartbeat_seconds=2.0)
    export_dir = None
    with Sessions() as s:
        stored = s.get(Solve, solve_id)
        if status in ("optimal", "feasible"):
            export_dir = _export(s, cfg, week, solve_id, out)
            values: dict[str, Any] = {"status": "done", "export_dir": export_dir}
            message = f"week {week}: {status}, plan stored and written to {export_dir}"
        else:
            values = {"status": "failed",
                      "error": f"solve {status}: {stored.error or ''}".strip()}
            message = f"week {week}: {status}; no plan stored" + (
                f" ({stored.error.splitlines()[0]})" if stored.error else "")
        s.execute(update(WeeklyPlan).where(WeeklyPlan.name == cfg.name,
                                           WeeklyPlan.week == week, WeeklyPlan.owner == owner)
                  .values(finished_at=utcnow(), lease_until=None, **values))
        s.commit()
    return WeeklyOutcome(cfg.name, week, str(status), solve_id, True, export_dir, prev_week,
                         message)


def _existing(engine: Engine, cfg: WeeklyConfig, week: str, out: Any) -> WeeklyOutcome:
    with session_factory(engine)() as s:
        w = s.scalars(select(WeeklyPlan).where(WeeklyPlan.name == cfg.name,
                                               WeeklyPlan.week == week)).one()
        if w.status != "done":
            raise BundleoptError(f"week {week} of {cfg.name!r} is being planned by "
                                 f"{w.owner} right now; try again later")
        export_dir = w.export_dir
        target = _export_path(cfg, week, out)
        if not (Path(target) / "plan.csv").exists():
            # The stored plan is the truth; the export is a copy we may rewrite.
            export_dir = _export(s, cfg, week, w.solve_id, out)
        solve = s.get(Solve, w.solve_id)
        return WeeklyOutcome(cfg.name, week, solve.status if solve else "done", w.solve_id,
                             False, export_dir, w.previous_week,
                             f"week {week} already planned (solve {w.solve_id}); unchanged")


def _export_path(cfg: WeeklyConfig, week: str, out: Any) -> str:
    if out is not None:
        return str(Path(out).resolve())
    return cfg.export.format(name=cfg.name, week=week)


def _export(s: Any, cfg: WeeklyConfig, week: str, solve_id: str | None, out: Any) -> str:
    """Write plan.csv and summary.json of a stored solve into the week's directory."""
    target = Path(_export_path(cfg, week, out))
    plan = s.scalars(select(Plan).where(Plan.solve_id == solve_id)).one()
    solve = s.get(Solve, solve_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        pd.DataFrame(plan.rows).to_csv(tmp / "plan.csv", index=False)
        summary = dict(solve.summary or {})
        summary.update(week=week, plan=cfg.name, solve_id=solve_id)
        (tmp / "summary.json").write_text(json.dumps(jsonable(summary), indent=2))
        if target.exists():
            if not target.is_dir() or any(p.name not in ("plan.csv", "summary.json")
                                          for p in target.iterdir()):
                raise InputError(str(cfg.path), f"{target} exists and is not a plan export; "
                                 "refusing to overwrite it", field="export")
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
