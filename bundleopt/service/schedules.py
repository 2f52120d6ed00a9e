"""Cron-style schedules of weekly plans, run by ``bundleopt serve`` itself.

A schedule carries its weekly config inline (stored in the database) or names a config
file inside the operator's allowed roots; either way every path inside the config is
held to those roots (:class:`~bundleopt.service.weekly.Confinement`), and the schedule
belongs to the tenant that saved it. It has a 5-field cron expression (UTC) and which ISO week
an occurrence plans (``week_offset`` weeks after the occurrence's date). The
scheduler claims each due occurrence by inserting a ``schedule_runs`` row whose
(schedule, time) key is unique, so two schedulers, or one restarted after a crash,
never start the same occurrence twice. Missed occurrences (service down) collapse into
the most recent one. A claimed run whose process died is re-run after its lease
expires, which is safe because ``plan run`` of a finished week changes nothing.
A run's solve goes through the solve queue (:mod:`.weekly.queued`), so any worker of the
fleet, ``bundleopt worker`` nodes included, solves scheduled weeks.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .cron import check_cron, latest_due, next_after
from .db import session_factory
from .limits import check_payload_values
from .models import Audit, Schedule, ScheduleRun, utcnow
from .weekly import Confinement, WeeklyConfig, config_from_mapping, iso_week, load_config

log = logging.getLogger("bundleopt.scheduler")

RUN_LEASE_SECONDS = 120.0
#: The older name of a single allowed config root (BUNDLEOPT_CONFIG_ROOTS is the list).
CONFIG_DIR_ENV = "BUNDLEOPT_CONFIG_DIR"
INLINE = "inline"


def schedule_config(sched: Schedule, confinement: Confinement) -> WeeklyConfig:
    """The weekly config a schedule runs, checked and confined like when it was saved."""
    if sched.config_inline is not None:
        return config_from_mapping(sched.config_inline, "config", base=None,
                                   default_name=sched.name, confinement=confinement,
                                   tenant=sched.tenant)
    return load_config(sched.config, confinement, tenant=sched.tenant)


def upsert(s: Session, data: dict[str, Any], actor: str, *, tenant: str,
           confinement: Confinement | None = None) -> Schedule:
    """Create or replace the tenant's schedule after checking its cron and config
    (held to ``confinement``, by default the roots of the environment)."""
    check_cron(data["cron"])
    confinement = confinement if confinement is not None else Confinement.from_env()
    config = data["config"]
    if isinstance(config, dict):
        check_payload_values({"scenario": config})
        inline, path = config, INLINE
        config_from_mapping(inline, "config", base=None, default_name=data["name"],
                            confinement=confinement, tenant=tenant)
    else:
        inline = None
        path = str(load_config(config, confinement, tenant=tenant).path)
    now = utcnow()
    sched = s.scalars(select(Schedule).where(Schedule.tenant == tenant,
                                             Schedule.name == data["name"])).first()
    if sched is None:
        sched = Schedule(tenant=tenant, name=data["name"], created_by=actor, created_at=now,
                         cron=data["cron"], config=path)
        s.add(sched)
    sched.cron, sched.config, sched.config_inline = data["cron"], path, inline
    sched.week_offset, sched.enabled = int(data.get("week_offset", 1)), bool(
        data.get("enabled", True))
    sched.next_run_at = next_after(sched.cron, now) if sched.enabled else None
    s.add(Audit(actor=actor, tenant=tenant, action="schedule", target=sched.name,
                detail={"cron": sched.cron, "config": path, "week_offset": sched.week_offset,
                        "enabled": sched.enabled}))
    s.commit()
    return sched


def delete(s: Session, name: str, actor: str, *, tenant: str) -> bool:
    """Remove the tenant's schedule and its run records; False if there is none."""
    sched = s.scalars(select(Schedule).where(Schedule.tenant == tenant,
                                             Schedule.name == name)).first()
    if sched is None:
        return False
    s.execute(ScheduleRun.__table__.delete().where(ScheduleRun.schedule_id == sched.id))
    s.delete(sched)
    s.add(Audit(actor=actor, tenant=tenant, action="unschedule", target=name))
    s.commit()
    return True


def claim_due(engine: Engine, owner: str, now: datetime | None = None) -> list[int]:
    """Claim every due occurrence and every abandoned run; the run ids to execute."""
    now = now or utcnow()
    lease = now + timedelta(seconds=RUN_LEASE_SECONDS)
    claimed: list[int] = []
    Sessions = session_factory(engine)
    with Sessions() as s:
        due = s.scalars(select(Schedule).where(Schedule.enabled,
                                               Schedule.next_run_at <= now)).all()
        for sched in due:
            occurrence = latest_due(sched.cron, sched.next_run_at - timedelta(seconds=1), now)
            sched.next_run_at = next_after(sched.cron, now)
            s.commit()
            if occurrence is None:
                continue
            week = iso_week((occurrence + timedelta(weeks=sched.week_offset)).date())
            try:
                run = ScheduleRun(schedule_id=sched.id, scheduled_for=occurrence, week=week,
                                  status="running", owner=owner, lease_until=lease,
                                  started_at=now)
                s.add(run)
                s.commit()
                claimed.append(run.id)
            except IntegrityError:
                s.rollback()  # another scheduler got this occurrence
        stale = s.scalars(select(ScheduleRun.id).where(ScheduleRun.status == "running",
                                                       ScheduleRun.lease_until < now)).all()
        for run_id in stale:
            res = s.execute(update(ScheduleRun).where(
                ScheduleRun.id == run_id, ScheduleRun.status == "running",
                ScheduleRun.lease_until < now).values(owner=owner, lease_until=lease))
            s.commit()
            if res.rowcount:
                claimed.append(run_id)
    return claimed


def execute_run(engine: Engine, db_url: str, run_id: int, owner: str,
                stop: threading.Event | None = None) -> str:
    """Run a claimed occurrence through the solve queue (:mod:`.weekly.queued`); its
    final status (``"interrupted"``: ``stop`` was set while the solve was under way; the
    run stays claimed and is taken over once its lease lapses).

    A ``plan run --schedule ID --queue-as OWNER`` child process builds the week's
    scenario and queues its solve (a crash, a demand fit or a native solver thread
    never lives in serve); any worker of the fleet solves it; this thread waits for the
    solve and closes the week (export, status). The child reads the schedule's config
    from the database and confines it to the roots in its environment (inherited from
    serve)."""
    from .weekly import queued

    stop = stop or threading.Event()
    Sessions = session_factory(engine)
    with Sessions() as s:
        run = s.get(ScheduleRun, run_id)
        sched = s.get(Schedule, run.schedule_id)
        if sched is None:
            return "failed"
        schedule_id, week, tenant = sched.id, run.week, sched.tenant
        try:
            cfg: WeeklyConfig | None = schedule_config(sched, Confinement.from_env())
        except Exception:       # the child reports it, as one line
            cfg = None
    cmd = [sys.executable, "-m", "bundleopt", "plan", "run", "--schedule",
           str(schedule_id), "--week", week, "--db", db_url, "--queue-as", owner]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(RUN_LEASE_SECONDS / 4):
            with Sessions() as s2:
                s2.execute(update(ScheduleRun).where(ScheduleRun.id == run_id,
                                                     ScheduleRun.owner == owner)
                           .values(lease_until=utcnow() + timedelta(
                               seconds=RUN_LEASE_SECONDS)))
                s2.commit()

    t = threading.Thread(target=renew, name=f"schedule-run-{run_id}", daemon=True)
    t.start()
    try:
        output, _ = proc.communicate()
        status: str | None = "done" if proc.returncode == 0 else "failed"
        if status == "done" and cfg is not None:
            state, solve_id = queued.held_solve(engine, cfg.name, week, owner, tenant=tenant)
            if solve_id is not None:
                status, output = queued.await_week(engine, cfg, week, solve_id,
                                                   tenant=tenant, owner=owner, stop=stop)
            elif state != "done":
                status, output = "failed", output + f"\nweek {week}: {state}"
    finally:
        done.set()
    if status is None:
        log.info("schedule run %s (week %s): left to be taken over (%s)", run_id, week,
                 output)
        return "interrupted"
    with Sessions() as s:
        s.execute(update(ScheduleRun).where(ScheduleRun.id == run_id,
                                            ScheduleRun.owner == owner)
                  .values(status=status, finished_at=utcnow(), lease_until=None,
                          error=None if status == "done" else output[-2000:]))
        s.commit()
    log.info("schedule run %s (week %s): %s", run_id, week, status)
    return status


def run_now(engine: Engine, db_url: str, sched: Schedule, owner: str,
            actor: str) -> ScheduleRun:
    """Claim a run of ``sched`` for this moment (the week its offset gives) and start it
    in the background, as the scheduler would (``POST /v1/schedules/{name}/run``)."""
    now = utcnow()
    week = iso_week((now + timedelta(weeks=sched.week_offset)).date())
    with session_factory(engine)() as s:
        run = ScheduleRun(schedule_id=sched.id, scheduled_for=now, week=week,
                          status="running", owner=owner,
                          lease_until=now + timedelta(seconds=RUN_LEASE_SECONDS),
                          started_at=now)
        s.add(run)
        s.add(Audit(actor=actor, tenant=sched.tenant, action="run_schedule",
                    target=sched.name, detail={"week": week}))
        s.commit()
    threading.Thread(target=execute_run, args=(engine, db_url, run.id, owner),
                     daemon=True).start()
    return run


def last_runs(s: Session, schedule_ids: list[int]) -> dict[int, ScheduleRun]:
    """The most recent run of each of the schedules (those that ran)."""
    from sqlalchemy import func

    newest = (select(ScheduleRun.schedule_id, func.max(ScheduleRun.id).label("id"))
              .where(ScheduleRun.schedule_id.in_(schedule_ids))
              .group_by(ScheduleRun.schedule_id).subquery())
    runs = s.scalars(select(ScheduleRun).join(newest, ScheduleRun.id == newest.c.id)).all()
    return {r.schedule_id: r for r in runs}


class Scheduler:
    """The loop inside ``serve``: every ``interval`` seconds, claim and start due runs."""

    def __init__(self, engine: Engine, db_url: str, owner: str, interval: float = 15.0):
        self.engine, self.db_url, self.owner, self.interval = engine, db_url, owner, interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                for run_id in claim_due(self.engine, self.owner):
                    threading.Thread(target=execute_run, args=(
                        self.engine, self.db_url, run_id, self.owner, self.stop_event),
                        name=f"schedule-run-{run_id}", daemon=True).start()
            except Exception:
                log.exception("scheduler tick failed")
            self.stop_event.wait(self.interval)
