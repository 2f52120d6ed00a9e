"""Scheduled weekly plans through the solve queue: built where the schedule runs, solved
by any worker of the fleet, closed when the solve ends.

One occurrence of a schedule goes in three steps:

1. :func:`enqueue_week`, in a ``plan run --schedule ID --queue-as OWNER`` child of the
   scheduler (a demand re-fit never runs inside ``serve``): claim (tenant, name, week)
   for OWNER, build the scenario against last week's plan (:func:`.runner.prepare_week`)
   and put its solve in the queue with source :data:`SOURCE`. A week that already holds
   a queued solve of an earlier run (its scheduler died while waiting) *adopts* that
   solve instead of building another.
2. Any worker process — ``serve``'s or a ``bundleopt worker`` node's — claims and solves
   it like an API solve: lease, heartbeats, re-queue after a lost worker, cancellation.
3. :func:`await_week`, in the scheduler: renews the week's lease while the solve waits
   and runs, then closes the week (:func:`.runner.close_week`) exactly as an in-process
   ``plan run`` does: the plan exported and the week ``done``, or ``failed`` with the
   solve's error.

If the scheduler dies in step 3 the week's lease (:data:`WEEK_LEASE_SECONDS`) lapses
before the schedule run's, another scheduler claims the run again and step 1 adopts the
queued solve: nothing is solved twice, nothing is lost. ``bundleopt plan run CONFIG``
(the command line) still solves in its own process (:func:`.runner.run_week`).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from formulations.errors import BundleoptError

from .. import queue
from ..db import session_factory
from ..models import TERMINAL, Solve, WeeklyPlan, utcnow
from .config import WeeklyConfig, parse_week
from .runner import CLAIM_SECONDS, _claim_week, _week_row, close_week, prepare_week

log = logging.getLogger("bundleopt.weekly")

#: ``solves.source`` of a scheduled week's solve: a queue entry like an API solve.
SOURCE = "schedule"
#: The week's lease while its solve is in the queue, renewed every :data:`POLL_SECONDS`;
#: shorter than the schedule run's (``schedules.RUN_LEASE_SECONDS``), so the week is free
#: again by the time a dead scheduler's run is claimed by another.
WEEK_LEASE_SECONDS = 60.0
POLL_SECONDS = 2.0
#: A queued week's solve another run may adopt: still waiting or running, or ended with
#: a plan (its scheduler died before closing the week).
ADOPTABLE = ("queued", "running", "optimal", "feasible")


@dataclass(frozen=True)
class QueuedWeek:
    """What :func:`enqueue_week` did. ``solve_id`` is ``None`` when the week was planned
    before; ``adopted`` when an earlier run's queued solve is kept."""

    name: str
    week: str
    solve_id: str | None
    adopted: bool
    message: str


def enqueue_week(cfg: WeeklyConfig, week: str, *, engine: Engine, tenant: str, owner: str,
                 refit: bool | None = None) -> QueuedWeek:
    """Claim the week for ``owner`` (a scheduler) and queue its solve (see the module)."""
    parse_week(week)
    w = _claim_week(engine, cfg.name, week, owner, CLAIM_SECONDS, tenant=tenant)
    if w is None:
        with session_factory(engine)() as s:
            row = s.scalars(select(WeeklyPlan).where(*_week_row(cfg.name, week,
                                                                tenant=tenant))).one()
        if row.status != "done":
            raise BundleoptError(f"week {week} of {cfg.name!r} is being planned by "
                                 f"{row.owner} right now; try again later")
        return QueuedWeek(cfg.name, week, None, False,
                          f"week {week} already planned (solve {row.solve_id}); unchanged")
    if w.solve_id is not None and _adoptable(engine, w.solve_id):
        renew(engine, cfg.name, week, owner, tenant=tenant)
        return QueuedWeek(cfg.name, week, w.solve_id, True,
                          f"week {week}: solve {w.solve_id} of an earlier run kept")
    try:
        ready = prepare_week(engine, cfg, week, refit, tenant=tenant)
        with session_factory(engine)() as s:
            solve, _ = queue.enqueue(s, payload=ready.payload,
                                     n_offers=len(ready.scenario.bundles),
                                     n_segments=len(ready.scenario.segments),
                                     options=ready.options, actor=f"weekly:{cfg.name}",
                                     source=SOURCE, tenant=tenant)
            s.execute(update(WeeklyPlan).where(*_week_row(cfg.name, week, tenant=tenant),
                                               WeeklyPlan.owner == owner)
                      .values(solve_id=solve.id, previous_week=ready.previous_week,
                              lease_until=_lease()))
            s.commit()
    except BaseException as err:
        _fail(engine, cfg.name, week, owner, str(err), tenant=tenant)
        raise
    return QueuedWeek(cfg.name, week, solve.id, False, f"week {week}: solve {solve.id} queued")


def held_solve(engine: Engine, name: str, week: str, owner: str, *,
               tenant: str) -> tuple[str, str | None]:
    """The week's status and, while ``owner`` holds it running, its queued solve's id."""
    with session_factory(engine)() as s:
        w = s.scalars(select(WeeklyPlan).where(*_week_row(name, week, tenant=tenant))).first()
    if w is None:
        return "failed", None
    if w.status == "running" and w.owner == owner:
        return "running", w.solve_id
    return w.status, None


def await_week(engine: Engine, cfg: WeeklyConfig, week: str, solve_id: str, *,
               tenant: str, owner: str, stop: threading.Event | None = None
               ) -> tuple[str | None, str]:
    """Wait for the week's queued solve, renewing the week's lease, then close the week.

    Returns ``("done" | "failed", message)``, or ``(None, …)`` when ``stop`` was set first
    (the run stays claimed; its lease lapses and another scheduler takes it over).
    """
    stop = stop or threading.Event()
    while True:
        status = _status(engine, solve_id)
        if status in TERMINAL:
            try:
                message, _ = close_week(engine, cfg, week, owner, solve_id, status, None,
                                        tenant=tenant)
            except BundleoptError as err:   # the export directory is not ours to replace
                _fail(engine, cfg.name, week, owner, str(err), tenant=tenant)
                return "failed", str(err)
            return ("done" if status in ("optimal", "feasible") else "failed"), message
        if not renew(engine, cfg.name, week, owner, tenant=tenant):
            return "failed", f"week {week} was taken over by another run"
        if stop.wait(POLL_SECONDS):
            return None, f"week {week}: stopped waiting for solve {solve_id}"


def renew(engine: Engine, name: str, week: str, owner: str, *, tenant: str) -> bool:
    """Extend ``owner``'s lease of the running week; whether it still holds it."""
    with session_factory(engine)() as s:
        res = s.execute(update(WeeklyPlan).where(
            *_week_row(name, week, tenant=tenant), WeeklyPlan.owner == owner,
            WeeklyPlan.status == "running").values(lease_until=_lease()))
        s.commit()
    return bool(res.rowcount)


def _lease() -> Any:
    return utcnow() + timedelta(seconds=WEEK_LEASE_SECONDS)


def _status(engine: Engine, solve_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(Solve.status).where(Solve.id == solve_id)).scalar()


def _adoptable(engine: Engine, solve_id: str) -> bool:
    with engine.connect() as conn:
        row = conn.execute(select(Solve.source, Solve.status)
                           .where(Solve.id == solve_id)).first()
    return row is not None and row[0] == SOURCE and row[1] in ADOPTABLE


def _fail(engine: Engine, name: str, week: str, owner: str, error: str, *,
          tenant: str) -> None:
    with session_factory(engine)() as s:
        s.execute(update(WeeklyPlan).where(*_week_row(name, week, tenant=tenant),
                                           WeeklyPlan.owner == owner)
                  .values(status="failed", error=error[:2000], lease_until=None,
                          finished_at=utcnow()))
        s.commit()
