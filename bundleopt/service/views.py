"""The public views of stored rows: what the API answers for a solve, a week, a schedule,
an audit entry."""
from __future__ import annotations

from typing import Any

from solver.status import relative_gap

from .db import jsonable
from .models import Audit, Schedule, ScheduleRun, Solve, WeeklyPlan
from .weekly.approval import review_out


def iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def solve_out(s: Solve) -> dict[str, Any]:
    """A solve's status plus summary (or progress while running)."""
    if s.summary is not None:
        summary = dict(s.summary)
        summary["status"] = s.status
    else:
        summary = {"status": s.status}
        if s.status == "running":
            p = s.progress or {}
            obj, bound = p.get("objective"), p.get("bound")
            gap = relative_gap(obj, bound)
            summary.update(objective=obj, bound=bound, gap=gap, elapsed=p.get("elapsed"))
        if s.error:
            summary["error"] = s.error
    return {"id": s.id, "status": s.status, "summary": jsonable(summary),
            "created_at": iso(s.created_at), "started_at": iso(s.started_at),
            "finished_at": iso(s.finished_at), "error": s.error}


def solve_details(s: Solve) -> dict[str, Any]:
    """Everything stored about a solve: :func:`solve_out` plus what reproduces it."""
    return {**solve_out(s), "scenario_hash": s.scenario_hash, "options": s.options,
            "submitted_by": s.submitted_by, "source": s.source, "attempts": s.attempts,
            "objective": s.objective, "bound": s.bound, "gap": s.gap,
            "backend": s.backend, "build_seconds": s.build_seconds,
            "solve_seconds": s.solve_seconds, "versions": s.versions, "log": s.log}


def weekly_out(w: WeeklyPlan) -> dict[str, Any]:
    return {"name": w.name, "week": w.week, "status": w.status, "solve_id": w.solve_id,
            "previous_week": w.previous_week, "export_dir": w.export_dir, "error": w.error,
            "finished_at": iso(w.finished_at), **review_out(w)}


def schedule_out(s: Schedule, last: ScheduleRun | None = None) -> dict[str, Any]:
    """A schedule, with its most recent run (``last``) when known."""
    config = s.config_inline if s.config_inline is not None else s.config
    return {"name": s.name, "cron": s.cron, "config": config, "week_offset": s.week_offset,
            "enabled": s.enabled, "created_by": s.created_by,
            "next_run_at": iso(s.next_run_at),
            "last_run": None if last is None else {
                "week": last.week, "status": last.status, "started_at": iso(last.started_at),
                "finished_at": iso(last.finished_at)}}


def audit_out(a: Audit) -> dict[str, Any]:
    return {"at": iso(a.at), "actor": a.actor, "action": a.action, "target": a.target,
            "detail": a.detail}
