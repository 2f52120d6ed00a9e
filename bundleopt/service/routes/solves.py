"""``/v1/solves`` and ``/v1/scenarios``: submit, follow, cancel solves; their plans and
stored scenarios. A submission is committed before ``202`` is sent."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from .. import queries, queue
from ..auth import Caller
from ..deps import RETRY_AFTER, Service, caller, offset_query, reads, service, visible, writes
from ..limits import safe_text
from ..models import SOLVE_STATUSES, Solve
from ..schemas import (DIGEST_RE, KEY_RE, SCENARIO_SCHEMA, SOLVE_ID_RE, Rows, SolveDetail,
                       SolveList, SolveOut, SolveRef)
from ..submission import submission
from ..views import solve_details, solve_out

router = APIRouter(tags=["solves"])
log = logging.getLogger("bundleopt.serve")


@router.post("/v1/solves", status_code=202, response_model=SolveRef,
             responses={401: {}, 413: {}, 422: {}, 429: {}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": SCENARIO_SCHEMA}}}})
async def submit(request: Request, who: Caller = Depends(caller),
                 idempotency_key: str | None = Header(
                     None, max_length=255,
                     description="retries with the same key return the same solve"),
                 ) -> dict[str, str]:
    """Queue a solve of the scenario in the body; recorded before 202 is sent."""
    body = await request.body()
    return await run_in_threadpool(submit_body, service(request), body, who,
                                   idempotency_key)


def submit_body(svc: Service, body: bytes, who: Caller, key: str | None) -> dict[str, str]:
    """Check and record a submission (or find the earlier one with the same key)."""
    if key is not None and not KEY_RE.match(key):
        raise HTTPException(422, "Idempotency-Key must be 1-255 visible ASCII characters")
    with svc.cpu_turn:
        sub = submission(body, svc.settings)
    digest = queue.scenario_hash(sub.payload)
    if key is not None:
        # A retry is answered from a snapshot read, without the write lock.
        with svc.reads() as s:
            existing = queue.by_key(s, key, tenant=who.tenant)
            if existing is not None:
                existing = queue.same_body(existing, digest)
                return {"id": existing.id, "status": existing.status}
    cap = svc.settings.max_active_per_tenant
    with svc.write_turn, svc.writes() as s:
        try:
            solve, created = queue.enqueue(
                s, payload=sub.payload, n_offers=sub.n_offers,
                n_segments=len(sub.payload["segments"]), options=sub.options,
                actor=who.actor, idempotency_key=key, tenant=who.tenant, max_active=cap,
                digest=digest)
        except queue.QuotaExceeded as full:
            raise HTTPException(
                429, f"this tenant already has {full.args[0]} queued or running solves "
                f"(the cap is {cap})", headers={"Retry-After": str(RETRY_AFTER)}) from None
    if created:
        log.info("queued solve %s", solve.id, extra={"solve_id": solve.id,
                                                     "tenant": who.tenant})
    return {"id": solve.id, "status": solve.status}


def find_solve(s: Session, solve_id: str, who: Caller) -> Solve:
    """The caller's solve (any tenant's for an admin); 404 alike for missing and others'."""
    return visible(who, bool(SOLVE_ID_RE.match(solve_id)),
                   lambda: queries.find_solve(s, solve_id, tenant=who.tenant),
                   lambda: queries.find_solve_all_tenants(s, solve_id),
                   f"no solve {safe_text(solve_id)[:64]}")


@router.get("/v1/solves", response_model=SolveList)
def list_solves(status: str | None = Query(None, pattern=f"^({'|'.join(SOLVE_STATUSES)})$"),
                limit: int = Query(50, ge=1, le=500), offset: int = offset_query(),
                who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
    """Solves, newest first, optionally of one status."""
    rows = (queries.list_solves_all_tenants(s, status=status, limit=limit, offset=offset)
            if who.admin else queries.list_solves(s, tenant=who.tenant, status=status,
                                                  limit=limit, offset=offset))
    return {"solves": [solve_out(x) for x in rows]}


@router.get("/v1/solves/{solve_id}", response_model=SolveOut, responses={404: {}})
def get_solve(solve_id: str, who: Caller = Depends(caller),
              s: Session = Depends(reads)) -> Any:
    """Status and summary (progress while running)."""
    return solve_out(find_solve(s, solve_id, who))


@router.get("/v1/solves/{solve_id}/details", response_model=SolveDetail,
            responses={404: {}})
def get_solve_details(solve_id: str, who: Caller = Depends(caller),
                      s: Session = Depends(reads)) -> Any:
    """Everything stored about a solve: options, timings, versions, solver log."""
    return solve_details(find_solve(s, solve_id, who))


@router.get("/v1/solves/{solve_id}/plan", response_model=Rows,
            responses={404: {}, 409: {}})
def get_plan(solve_id: str, who: Caller = Depends(caller),
             s: Session = Depends(reads)) -> Any:
    """plan.csv's rows of a finished solve."""
    x = find_solve(s, solve_id, who)
    if x.status in ("queued", "running"):
        raise HTTPException(409, f"solve {solve_id} is {x.status}; no plan yet")
    plan = queries.plan_of(s, x)
    if plan is None:
        raise HTTPException(404, f"solve {solve_id} has no plan (status {x.status})")
    return {"rows": plan.rows}


@router.delete("/v1/solves/{solve_id}", response_model=SolveOut,
               responses={404: {}, 409: {}})
def cancel_solve(request: Request, solve_id: str, who: Caller = Depends(caller),
                 s: Session = Depends(writes)) -> Any:
    """Cancel a queued solve now, or stop a running one (it ends ``cancelled``)."""
    with service(request).reads() as r:
        x = find_solve(r, solve_id, who)
    if x.status not in ("queued", "running"):
        raise HTTPException(409, f"solve {solve_id} already finished ({x.status})")
    log.info("cancel of solve %s asked", solve_id, extra={"solve_id": solve_id,
                                                          "tenant": x.tenant})
    return solve_out(queue.cancel(s, solve_id, actor=who.actor, tenant=x.tenant))


@router.get("/v1/scenarios/{digest}", responses={404: {}})
def get_scenario(digest: str, who: Caller = Depends(caller),
                 s: Session = Depends(reads)) -> Any:
    """A stored scenario payload by content hash (to reproduce a solve)."""
    return visible(who, bool(DIGEST_RE.match(digest)),
                   lambda: queries.find_scenario(s, digest, tenant=who.tenant),
                   lambda: queries.find_scenario_all_tenants(s, digest),
                   f"no scenario {safe_text(digest)[:64]}").payload
