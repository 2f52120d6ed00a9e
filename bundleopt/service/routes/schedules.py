"""``/v1/schedules``: the tenant's weekly-plan schedules, checked when saved."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy.orm import Session

from formulations.errors import InputError

from .. import queries, queue, schedules
from ..auth import Caller
from ..deps import caller, reads, service, writes
from ..limits import safe_text
from ..models import Schedule
from ..schemas import NAME_RE, ScheduleIn, ScheduleList, ScheduleOut, ScheduleRunOut
from ..submission import checked_scenario
from ..views import schedule_out

router = APIRouter(tags=["schedules"])


def save(request: Request, body: ScheduleIn, who: Caller) -> Schedule:
    """Check the schedule like a solve would be checked, then store it for the tenant."""
    svc = service(request)
    if isinstance(body.config, dict) and isinstance(body.config.get("scenario"), dict):
        # An inline scenario is checked now, as a solve's body is (before taking the
        # write turn), not a minute later when its first week fails.
        with svc.cpu_turn:
            checked_scenario(body.config["scenario"], svc.settings)
    with svc.write_turn, svc.writes() as s:
        return schedules.upsert(s, body.model_dump(), who.actor, tenant=who.tenant,
                                confinement=schedules.Confinement.from_settings(
                                    svc.settings))


@router.put("/v1/schedules/{name}", response_model=ScheduleOut, responses={422: {}})
def put_schedule(request: Request, name: str, body: ScheduleIn,
                 who: Caller = Depends(caller)) -> Any:
    """Create or replace the schedule ``name`` (the body's ``name`` must be the same)."""
    if not NAME_RE.match(name):
        raise HTTPException(422, "a schedule name is 1-128 letters, digits, '_', '.' "
                            "or '-'")
    if body.name != name:
        raise InputError("schedule", f"the body names the schedule {body.name!r}, the "
                         f"path {name!r}; they must be the same", field="name")
    return schedule_out(save(request, body, who))


@router.post("/v1/schedules", response_model=ScheduleOut, status_code=201,
             responses={422: {}})
def post_schedule(request: Request, body: ScheduleIn,
                  who: Caller = Depends(caller)) -> Any:
    """Create or replace a schedule."""
    return schedule_out(save(request, body, who))


@router.get("/v1/schedules", response_model=ScheduleList)
def list_schedules(who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
    """This tenant's schedules (an admin's: all)."""
    rows = (queries.list_schedules_all_tenants(s) if who.admin
            else queries.list_schedules(s, tenant=who.tenant))
    last = schedules.last_runs(s, [x.id for x in rows])
    return {"schedules": [schedule_out(x, last.get(x.id)) for x in rows]}


@router.delete("/v1/schedules/{name}", status_code=204, responses={404: {}})
def delete_schedule(name: str, who: Caller = Depends(caller),
                    s: Session = Depends(writes)) -> None:
    """Remove a schedule (its past runs stay in the audit trail)."""
    if not NAME_RE.match(name) or not schedules.delete(s, name, who.actor,
                                                       tenant=who.tenant):
        raise HTTPException(404, f"no schedule {safe_text(name)[:128]!r}")


@router.post("/v1/schedules/{name}/run", response_model=ScheduleRunOut, status_code=202,
             responses={403: {}, 404: {}})
def run_schedule(request: Request, name: str, who: Caller = Depends(caller)) -> Any:
    """Run the schedule now, for the week its ``week_offset`` gives from today; the run
    happens in the background (its week appears under /v1/plans when planned)."""
    if who.admin:
        raise HTTPException(403, "admin tokens are read-only here; use the tenant's token")
    svc = service(request)
    with svc.reads() as s:
        sched = queries.find_schedule(s, name, tenant=who.tenant) if NAME_RE.match(name) \
            else None
    if sched is None:
        raise HTTPException(404, f"no schedule {safe_text(name)[:128]!r}")
    with svc.write_turn:
        run = schedules.run_now(svc.engine, svc.settings.db_url, sched,
                                queue.worker_name("run-now"), who.actor)
    return {"schedule": sched.name, "week": run.week, "run_id": run.id,
            "status": run.status}
