"""Cron-style schedules of weekly plans, run by ``bundleopt serve`` itself.

A schedule names a weekly config, a 5-field cron expression (UTC) and which ISO week
an occurrence plans (``week_offset`` weeks after the occurrence's date). The
scheduler claims each due occurrence by inserting a ``schedule_runs`` row whose
(schedule, time) key is unique, so two schedulers, or one restarted after a crash,
never start the same occurrence twice. Missed occurrences (service down) collapse into
the most recent one. A claimed run whose process died is re-run after its lease
expires, which is safe because ``plan run`` of a finished week changes nothing.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from formulations.errors import InputError

from .db import session_factory
from .models import Audit, Schedule, ScheduleRun, utcnow
from .weekly import iso_week, load_config

log = logging.getLogger("bundleopt.scheduler")

RUN_LEASE_SECONDS = 120.0
#: If set, schedules may only name weekly configs inside this directory.
CONFIG_DIR_ENV = "BUNDLEOPT_CONFIG_DIR"


def next_after(cron: str, moment: datetime) -> datetime:
    """The first occurrence of ``cron`` strictly after ``moment`` (UTC)."""
    return croniter(cron, moment).get_next(datetime)


def latest_due(cron: str, since: datetime, now: datetime) -> datetime | None:
    """The last occurrence in ``(since, now]``, or ``None`` if there is none."""
    prev = croniter(cron, now + timedelta(microseconds=1)).get_prev(datetime)
    return prev if prev > since else None


def check_cron(cron: str) -> None:
    """InputError unless ``cron`` is a valid 5-field expression."""
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InputError("schedule", f"{cron!r} is not a 5-field cron expression "
                         "(minute hour day month weekday)", field="cron")


def upsert(s: Session, data: dict[str, Any], actor: str) -> Schedule:
    """Create or replace a schedule after checking its cron and config."""
    check_cron(data["cron"])
    # Runs start later, from wherever serve runs: keep the path absolute.
    config = Path(data["config"]).resolve()
    allowed = os.environ.get(CONFIG_DIR_ENV)
    if allowed and not config.is_relative_to(Path(allowed).resolve()):
        raise InputError("schedule", f"config must be inside {CONFIG_DIR_ENV}={allowed}",
                         field="config")
    load_config(config)
    data = {**data, "config": str(config)}
    now = utcnow()
    sched = s.scalars(select(Schedule).where(Schedule.name == data["name"])).first()
    if sched is None:
        sched = Schedule(name=data["name"], created_by=actor, created_at=now,
                         cron=data["cron"], config=data["config"])
        s.add(sched)
    sched.cron, sched.config = data["cron"], data["config"]
    sched.week_offset, sched.enabled = int(data.get("week_offset", 1)), bool(
        data.get("enabled", True))
    sched.next_run_at = next_after(sched.cron, now) if sched.enabled else None
    s.add(Audit(actor=actor, action="schedule", target=sched.name, detail=dict(data)))
    s.commit()
    return sched


def delete(s: Session, name: str, actor: str) -> bool:
    """Remove a schedule and its run records; False if there is none."""
    sched = s.scalars(select(Schedule).where(Schedule.name == name)).first()
    if sched is None:
        return False
    s.execute(ScheduleRun.__table__.delete().where(ScheduleRun.schedule_id == sched.id))
    s.delete(sched)
    s.add(Audit(actor=actor, action="unschedule", target=name))
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


def execute_run(engine: Engine, db_url: str, run_id: int, owner: str) -> str:
    """Run a claimed occurrence as ``plan run`` in a child process; its final status."""
    Sessions = session_factory(engine)
    with Sessions() as s:
        run = s.get(ScheduleRun, run_id)
        sched = s.get(Schedule, run.schedule_id)
        if sched is None:
            return "failed"
        config, week = sched.config, run.week
    cmd = [sys.executable, "-m", "solver.service", "plan", "run", config, "--week", week,
           "--db", db_url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RUN_LEASE_SECONDS / 4):
            with Sessions() as s2:
                s2.execute(update(ScheduleRun).where(ScheduleRun.id == run_id,
                                                     ScheduleRun.owner == owner)
                           .values(lease_until=utcnow() + timedelta(
                               seconds=RUN_LEASE_SECONDS)))
                s2.commit()

    t = threading.Thread(target=renew, daemon=True)
    t.start()
    output, _ = proc.communicate()
    stop.set()
    status = "done" if proc.returncode == 0 else "failed"
    with Sessions() as s:
        s.execute(update(ScheduleRun).where(ScheduleRun.id == run_id,
                                            ScheduleRun.owner == owner)
                  .values(status=status, finished_at=utcnow(), lease_until=None,
                          error=None if status == "done" else output[-2000:]))
        s.commit()
    log.info("schedule run %s (week %s): %s", run_id, week, status)
    return status


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
                        self.engine, self.db_url, run_id, self.owner), daemon=True).start()
            except Exception:
                log.exception("scheduler tick failed")
            self.stop_event.wait(self.interval)
