"""The FastAPI application: the HTTP contract of SERVICE.md plus listings and schedules.

Handlers only read and write the database; solving happens in the worker processes
(:mod:`bundleopt.service.worker`). A submission is committed before ``202`` is sent, so
an accepted solve survives anything that happens afterwards.

Every handler sees the caller's tenant only (admins see all): another tenant's id or
name is answered exactly like one that does not exist. Reads use the read engine
(SQLite: snapshot reads that never wait for a writer); writes are short transactions
on the write engine, prepared (parsed, validated, hashed) before they start.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from contextlib import asynccontextmanager, nullcontext
from typing import Any, AsyncIterator, Callable

import anyio.to_thread
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from sqlalchemy.exc import DatabaseError, IntegrityError, ProgrammingError
from sqlalchemy.orm import Session

from formulations.errors import BundleoptError, InputError

from . import queue, schedules
from solver.machine import machine_cores
from solver.status import relative_gap
from .auth import SCOPE_KEY, Caller, RequireToken, TokenCheck
from .db import (REQUEST_THREADS, check_writable, health_engine, jsonable, lock_timed_out,
                 make_engine, make_engines, session_factory, upgrade)
from .limits import (BodyLimit, QuotaGate, ServiceSettings, TenantQuotas,
                     check_payload_values, check_threads, parse_json, safe_text,
                     scenario_cells, service_time_limit)
from .models import SOLVE_STATUSES, Audit, Plan, ScenarioRow, Schedule, Solve, WeeklyPlan

log = logging.getLogger("bundleopt.serve")
MAX_OFFSET = 1_000_000_000   # keeps OFFSET within every database's integer range
#: Seconds a client is asked to wait when its tenant has its cap of active solves.
QUEUE_FULL_RETRY_AFTER = 5
HEALTH_TIMEOUT_MS = 800
HEALTH_PROBE_SECONDS = 0.5
HEALTH_STALE_SECONDS = 3.0
# Shapes of the ids and names in paths; anything else cannot exist and answers 404
# before the database is asked.
SOLVE_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
WEEK_RE = re.compile(r"^\d{4}-W\d{2}$")
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def _offset() -> Any:
    return Query(0, ge=0, le=MAX_OFFSET)


_bearer = HTTPBearer(auto_error=False, description="A token from BUNDLEOPT_API_TOKENS")

TABLE_SCHEMA = {"type": "array", "items": {"type": "object"}}
OPTIONAL_TABLE_SCHEMA = {"type": ["array", "null"], "items": {"type": "object"}}
SCENARIO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A scenario in the JSON form of SERVICE.md (tables as lists of records; "
                   "`scenario` holds the scenario.yaml keys).",
    "required": ["products", "bundles", "segments", "wtp"],
    "additionalProperties": False,
    "properties": {"scenario": {"type": ["object", "null"]},
                   **{k: TABLE_SCHEMA for k in ("products", "bundles", "segments", "wtp")},
                   **{k: OPTIONAL_TABLE_SCHEMA for k in ("prices", "previous_plan")}},
}


# ------------------------------------------------------------------ response models
class SolveRef(BaseModel):
    id: str
    status: str


class SolveOut(BaseModel):
    id: str
    status: str
    summary: dict[str, Any]
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None


class SolveDetail(SolveOut):
    scenario_hash: str
    options: dict[str, Any]
    submitted_by: str
    source: str
    attempts: int
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    backend: str | None = None
    build_seconds: float | None = None
    solve_seconds: float | None = None
    versions: dict[str, Any] | None = None
    log: str | None = None


class SolveList(BaseModel):
    solves: list[SolveOut]


class Rows(BaseModel):
    rows: list[dict[str, Any]]


class WeeklyOut(BaseModel):
    name: str
    week: str
    status: str
    solve_id: str | None = None
    previous_week: str | None = None
    export_dir: str | None = None
    error: str | None = None
    finished_at: str | None = None


class WeeklyList(BaseModel):
    plans: list[WeeklyOut]


class WeeklyPlanOut(WeeklyOut):
    rows: list[dict[str, Any]]


class ScheduleIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    cron: str = Field(min_length=1, max_length=128,
                      description="5-field cron expression, UTC (e.g. '0 6 * * FRI')")
    config: str | dict[str, Any] = Field(
        description="the weekly plan config itself (an object with the YAML's keys; "
                    "`scenario` may be a scenario in the JSON form of a solve), or the "
                    "path of a config file inside the directories the operator allowed")
    week_offset: int = Field(1, ge=-1, le=8, description="plan the ISO week this many "
                             "weeks after the run's date")
    enabled: bool = True


class ScheduleOut(BaseModel):
    name: str
    cron: str
    config: str | dict[str, Any]
    week_offset: int
    enabled: bool
    created_by: str
    next_run_at: str | None = None


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class AuditOut(BaseModel):
    at: str
    actor: str
    action: str
    target: str | None = None
    detail: dict[str, Any] | None = None


class AuditList(BaseModel):
    entries: list[AuditOut]


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def solve_out(s: Solve) -> dict[str, Any]:
    """The public view of a solve: status plus summary (or progress while running)."""
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
            "created_at": _iso(s.created_at), "started_at": _iso(s.started_at),
            "finished_at": _iso(s.finished_at), "error": s.error}


def _weekly_out(w: WeeklyPlan) -> dict[str, Any]:
    return {"name": w.name, "week": w.week, "status": w.status, "solve_id": w.solve_id,
            "previous_week": w.previous_week, "export_dir": w.export_dir, "error": w.error,
            "finished_at": _iso(w.finished_at)}


def _schedule_out(s: Schedule) -> dict[str, Any]:
    config = s.config_inline if s.config_inline is not None else s.config
    return {"name": s.name, "cron": s.cron, "config": config, "week_offset": s.week_offset,
            "enabled": s.enabled, "created_by": s.created_by,
            "next_run_at": _iso(s.next_run_at)}


# ------------------------------------------------------------------------ the app
def create_app(settings: ServiceSettings, engine: Engine | None = None, *,
               read_engine: Engine | None = None, migrate: bool = True,
               on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    """Build the app over ``settings.db_url`` (or ``engine``); migrations run at startup.

    ``engine`` takes the writes, ``read_engine`` (default: a snapshot-reading engine
    over the same database) the reads. ``on_shutdown`` runs when the server shuts down
    (uvicorn re-raises SIGTERM after its shutdown, so code after ``Server.run()`` would
    never run).
    """
    if engine is None:
        engine, default_read = make_engines(settings.db_url)
    else:
        default_read = (make_engine(settings.db_url, read_only=True, pool_size=REQUEST_THREADS)
                        if engine.dialect.name == "sqlite" else engine)
    read_engine = read_engine or default_read
    health = HealthProbe(health_engine(settings.db_url, HEALTH_TIMEOUT_MS))
    health.start()
    Writes = session_factory(engine)
    Reads = session_factory(read_engine)
    # SQLite has one writer at a time and lets waiters poll with growing sleeps, which
    # starves some of them under load; queueing this process's writers on a lock keeps
    # at most one of them at the database, so /healthz and the workers get in promptly.
    write_turn = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
    cpu_turn = threading.BoundedSemaphore(machine_cores())
    tokens = TokenCheck(settings.tokens, settings.admin_tokens)
    quotas = TenantQuotas(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The database pools are sized to these threads (db.REQUEST_THREADS).
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        if migrate:
            await run_in_threadpool(upgrade, engine)
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    app = FastAPI(title="bundleopt", version="1",
                  description="Bundle offer & pricing solves as a service (SERVICE.md).",
                  lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(QuotaGate, quotas=quotas, max_body_bytes=settings.max_body_bytes,
                       scope_key=SCOPE_KEY)
    app.add_middleware(RequireToken, check=tokens)   # added last = runs first
    app.state.engine = engine

    def reads() -> Any:
        with Reads() as s:
            yield s

    def writes() -> Any:
        with write_turn, Writes() as s:
            yield s

    def caller(request: Request,
               _cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Caller:
        who = request.scope.get(SCOPE_KEY) or tokens.caller(
            request.headers.get("authorization"))
        if who is None:
            raise HTTPException(401, "missing or invalid bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        # A misspelt query parameter (?stauts=...) must not be silently ignored.
        route = request.scope.get("route")
        known = {f.alias for f in getattr(getattr(route, "dependant", None),
                                          "query_params", [])}
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            hint = f"unknown query parameter; known: {', '.join(sorted(known)) or 'none'}"
            raise RequestValidationError([
                {"loc": ["query", safe_text(name)], "type": "extra_forbidden", "msg": hint,
                 "input": safe_text(request.query_params[name])} for name in unknown])
        return who

    @app.exception_handler(BundleoptError)
    async def _user_error(_request: Request, err: BundleoptError) -> JSONResponse:
        return JSONResponse(_error_body(err), status_code=422)

    @app.exception_handler(DatabaseError)
    async def _database_unavailable(_request: Request, err: DatabaseError) -> JSONResponse:
        if isinstance(err, (IntegrityError, ProgrammingError)):   # our bug, not the disk's
            log.error("database error", exc_info=err)
            return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
        # A full disk, a corrupt file, a lock held too long, a lost connection: nothing
        # the client did wrong and nothing recorded; it may retry (the same
        # Idempotency-Key is safe). /healthz says "degraded" meanwhile.
        log.warning("database unavailable: %s", type(err.orig).__name__)
        return JSONResponse({"detail": "the database cannot take the request right now; "
                             "retry later"}, status_code=503,
                            headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        # Echoes of the client's input must encode (a lone surrogate would not).
        return JSONResponse({"detail": jsonable_safe(err.errors())}, status_code=422)

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, _exc: Exception) -> JSONResponse:
        # Starlette lists only one route's methods; a path served by several routes
        # (GET and DELETE /v1/solves/{id}) must list them all.
        methods: set[str] = set()
        for route in app.routes:
            regex = getattr(route, "path_regex", None)
            if regex is not None and regex.match(request.url.path):
                methods |= set(getattr(route, "methods", None) or ())
        return JSONResponse({"detail": "Method Not Allowed"}, status_code=405,
                            headers={"Allow": ", ".join(sorted(methods))})

    @app.get("/healthz", tags=["service"], responses={503: {"description": "degraded"}})
    async def healthz() -> Any:
        """``ok`` when the database could be reached and written within the last few
        seconds; else 503 ``degraded``. Answered from a background probe, so it is
        instant however busy the service is."""
        end = time.monotonic() + HEALTH_STALE_SECONDS
        while not health.probed() and time.monotonic() < end:   # just started
            await asyncio.sleep(0.05)
        problem = health.problem()
        if problem:
            return JSONResponse({"status": "degraded", "detail": problem}, status_code=503)
        return {"status": "ok"}

    def visible(q: Any, model: Any, who: Caller) -> Any:
        return q if who.admin else q.where(model.tenant == who.tenant)

    def find_solve(s: Session, solve_id: str, who: Caller) -> Solve:
        x = s.get(Solve, solve_id) if SOLVE_ID_RE.match(solve_id) else None
        if x is None or not (who.admin or x.tenant == who.tenant):
            raise HTTPException(404, f"no solve {safe_text(solve_id)[:64]}")
        return x

    # -------------------------------------------------------------------- solves
    @app.post("/v1/solves", status_code=202, response_model=SolveRef, tags=["solves"],
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
        return await run_in_threadpool(_submit, body, who, idempotency_key)

    def _prepare(body: bytes) -> tuple[dict[str, Any], dict[str, Any], int]:
        """The payload, solver options and offer count of a submission; 4xx if invalid."""
        # A retry is validated like the first request: a broken body is never "accepted".
        try:
            payload = parse_json(body)
        except ValueError as err:
            raise HTTPException(422, f"body is not valid JSON: {err}") from None
        if not isinstance(payload, dict):
            raise InputError("payload", "expected a JSON object with the scenario tables")
        check_payload_values(payload)
        cells = scenario_cells(payload)
        if cells > settings.max_cells:
            raise HTTPException(413, f"scenario too large: {cells} offer × segment × price "
                                f"cells, the limit is {settings.max_cells}")
        options = _options(_parse(payload), settings)
        n_offers = len({str(r.get("bundle_id")) for r in payload["bundles"]})
        return payload, options, n_offers

    def _submit(body: bytes, who: Caller, key: str | None) -> dict[str, str]:
        if key is not None and not KEY_RE.match(key):
            raise HTTPException(422, "Idempotency-Key must be 1-255 visible ASCII characters")
        # Parsing and validating is the CPU-bound part of a request: at most one thread
        # per core does it at a time, so the event loop (and /healthz) keep the GIL often.
        with cpu_turn:
            payload, options, n_offers = _prepare(body)
        digest = queue.scenario_hash(payload)
        if key is not None:
            # A retry is answered from a snapshot read, without the write lock.
            with Reads() as s:
                existing = queue.by_key(s, who.tenant, key)
                if existing is not None:
                    existing = queue.same_body(existing, digest)
                    return {"id": existing.id, "status": existing.status}
        with write_turn, Writes() as s:
            try:
                solve, _ = queue.enqueue(
                    s, payload=payload, n_offers=n_offers,
                    n_segments=len(payload["segments"]), options=options, actor=who.actor,
                    idempotency_key=key, tenant=who.tenant,
                    max_active=settings.max_active_per_tenant, digest=digest)
            except queue.QuotaExceeded as full:
                raise HTTPException(
                    429, f"this tenant already has {full.args[0]} queued or running solves "
                    f"(the cap is {settings.max_active_per_tenant})",
                    headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER)}) from None
            return {"id": solve.id, "status": solve.status}

    @app.get("/v1/solves", response_model=SolveList, tags=["solves"])
    def list_solves(status: str | None = Query(
                        None, pattern=f"^({'|'.join(SOLVE_STATUSES)})$"),
                    limit: int = Query(50, ge=1, le=500), offset: int = _offset(),
                    who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
        """Solves, newest first, optionally of one status."""
        q = visible(select(Solve), Solve, who).order_by(Solve.created_at.desc(), Solve.id)
        if status:
            q = q.where(Solve.status == status)
        return {"solves": [solve_out(x) for x in s.scalars(q.limit(limit).offset(offset))]}

    @app.get("/v1/solves/{solve_id}", response_model=SolveOut, tags=["solves"],
             responses={404: {}})
    def get_solve(solve_id: str, who: Caller = Depends(caller),
                  s: Session = Depends(reads)) -> Any:
        """Status and summary (progress while running)."""
        return solve_out(find_solve(s, solve_id, who))

    @app.get("/v1/solves/{solve_id}/details", response_model=SolveDetail, tags=["solves"],
             responses={404: {}})
    def get_solve_details(solve_id: str, who: Caller = Depends(caller),
                          s: Session = Depends(reads)) -> Any:
        """Everything stored about a solve: options, timings, versions, solver log."""
        x = find_solve(s, solve_id, who)
        return {**solve_out(x), "scenario_hash": x.scenario_hash, "options": x.options,
                "submitted_by": x.submitted_by, "source": x.source, "attempts": x.attempts,
                "objective": x.objective, "bound": x.bound, "gap": x.gap,
                "backend": x.backend, "build_seconds": x.build_seconds,
                "solve_seconds": x.solve_seconds, "versions": x.versions, "log": x.log}

    @app.get("/v1/solves/{solve_id}/plan", response_model=Rows, tags=["solves"],
             responses={404: {}, 409: {}})
    def get_plan(solve_id: str, who: Caller = Depends(caller),
                 s: Session = Depends(reads)) -> Any:
        """plan.csv's rows of a finished solve."""
        x = find_solve(s, solve_id, who)
        if x.status in ("queued", "running"):
            raise HTTPException(409, f"solve {solve_id} is {x.status}; no plan yet")
        plan = s.scalars(select(Plan).where(Plan.solve_id == solve_id)).first()
        if plan is None:
            raise HTTPException(404, f"solve {solve_id} has no plan (status {x.status})")
        return {"rows": plan.rows}

    @app.delete("/v1/solves/{solve_id}", response_model=SolveOut, tags=["solves"],
                responses={404: {}, 409: {}})
    def cancel_solve(solve_id: str, who: Caller = Depends(caller),
                     s: Session = Depends(writes)) -> Any:
        """Cancel a queued solve now, or stop a running one (it ends ``cancelled``)."""
        with Reads() as r:
            x = find_solve(r, solve_id, who)
        if x.status not in ("queued", "running"):
            raise HTTPException(409, f"solve {solve_id} already finished ({x.status})")
        x = queue.cancel(s, solve_id, who.actor, x.tenant)
        return solve_out(x)

    @app.get("/v1/scenarios/{digest}", tags=["solves"], responses={404: {}})
    def get_scenario(digest: str, who: Caller = Depends(caller),
                     s: Session = Depends(reads)) -> Any:
        """A stored scenario payload by content hash (to reproduce a solve)."""
        row = s.get(ScenarioRow, digest) if DIGEST_RE.match(digest) else None
        # Scenarios are stored once per content; a tenant sees those its solves used.
        if row is not None and not who.admin and s.scalar(
                select(Solve.id).where(Solve.scenario_hash == digest,
                                       Solve.tenant == who.tenant).limit(1)) is None:
            row = None
        if row is None:
            raise HTTPException(404, f"no scenario {safe_text(digest)[:64]}")
        return row.payload

    # ------------------------------------------------------------- weekly plans
    @app.get("/v1/plans", response_model=WeeklyList, tags=["plans"])
    def list_plans(name: str | None = Query(None, max_length=128),
                   limit: int = Query(100, ge=1, le=1000), offset: int = _offset(),
                   who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
        """Stored weekly plans, newest week first."""
        q = visible(select(WeeklyPlan), WeeklyPlan, who).order_by(WeeklyPlan.week.desc(),
                                                                   WeeklyPlan.name)
        if name:
            if not NAME_RE.match(name):
                return {"plans": []}
            q = q.where(WeeklyPlan.name == name)
        return {"plans": [_weekly_out(w) for w in s.scalars(q.limit(limit).offset(offset))]}

    @app.get("/v1/plans/{name}/{week}", response_model=WeeklyPlanOut, tags=["plans"],
             responses={404: {}})
    def get_weekly(name: str, week: str, who: Caller = Depends(caller),
                   s: Session = Depends(reads)) -> Any:
        """One week's plan with its rows."""
        w = None
        if NAME_RE.match(name) and WEEK_RE.match(week):
            w = s.scalars(visible(select(WeeklyPlan), WeeklyPlan, who).where(
                WeeklyPlan.name == name, WeeklyPlan.week == week)).first()
        if w is None:
            raise HTTPException(404, f"no plan {safe_text(name)[:128]!r} for week "
                                f"{safe_text(week)[:16]}")
        plan = (s.scalars(select(Plan).where(Plan.solve_id == w.solve_id)).first()
                if w.solve_id else None)
        return {**_weekly_out(w), "rows": plan.rows if plan else []}

    # ---------------------------------------------------------------- schedules
    @app.put("/v1/schedules/{name}", response_model=ScheduleOut, tags=["schedules"],
             responses={422: {}})
    def put_schedule(name: str, body: ScheduleIn, who: Caller = Depends(caller),
                     s: Session = Depends(writes)) -> Any:
        """Create or replace a schedule (the name in the path wins)."""
        if not NAME_RE.match(name):
            raise HTTPException(422, "a schedule name is 1-128 letters, digits, '_', '.' "
                                "or '-'")
        data = body.model_dump()
        data["name"] = name
        return _schedule_out(schedules.upsert(s, data, who.actor, who.tenant,
                                              schedules.Confinement.from_settings(settings)))

    @app.post("/v1/schedules", response_model=ScheduleOut, status_code=201,
              tags=["schedules"], responses={422: {}})
    def post_schedule(body: ScheduleIn, who: Caller = Depends(caller),
                      s: Session = Depends(writes)) -> Any:
        """Create or replace a schedule."""
        return _schedule_out(schedules.upsert(s, body.model_dump(), who.actor, who.tenant,
                                              schedules.Confinement.from_settings(settings)))

    @app.get("/v1/schedules", response_model=ScheduleList, tags=["schedules"])
    def list_schedules(who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
        """This tenant's schedules (an admin's: all)."""
        q = visible(select(Schedule), Schedule, who).order_by(Schedule.name, Schedule.tenant)
        return {"schedules": [_schedule_out(x) for x in s.scalars(q)]}

    @app.delete("/v1/schedules/{name}", status_code=204, tags=["schedules"],
                responses={404: {}})
    def delete_schedule(name: str, who: Caller = Depends(caller),
                        s: Session = Depends(writes)) -> None:
        """Remove a schedule (its past runs stay in the audit trail)."""
        if not NAME_RE.match(name) or not schedules.delete(s, name, who.actor, who.tenant):
            raise HTTPException(404, f"no schedule {safe_text(name)[:128]!r}")

    @app.get("/v1/audit", response_model=AuditList, tags=["service"])
    def audit(limit: int = Query(100, ge=1, le=1000), offset: int = _offset(),
              who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
        """Who submitted, cancelled or scheduled what, newest first (this tenant's)."""
        q = visible(select(Audit), Audit, who).order_by(Audit.id.desc()).limit(limit)
        return {"entries": [{"at": _iso(a.at), "actor": a.actor, "action": a.action,
                             "target": a.target, "detail": a.detail}
                            for a in s.scalars(q.offset(offset))]}

    # Every /v1 operation can answer 401 and 429; say so in the published schema.
    for route in app.routes:
        if getattr(route, "path", "").startswith("/v1"):
            route.responses.setdefault(401, {"description": "missing or invalid token"})
            route.responses.setdefault(429, {"description": "a quota of the tenant is "
                                             "reached; see Retry-After"})
            if {"POST", "PUT"} & set(getattr(route, "methods", ())):
                route.responses.setdefault(400, {"description": "unreadable body"})
            for code, text_ in ((404, "not found"), (409, "conflict"),
                                (413, "too large"), (422, "invalid input")):
                if code in route.responses:
                    route.responses[code] = {"description": text_}
    return app


class HealthProbe:
    """Writes the health row every :data:`HEALTH_PROBE_SECONDS` in its own thread.

    ``/healthz`` reads the outcome instead of touching the database itself, so its
    answer never waits behind request threads, writers or a slow disk; a database that
    cannot take a write shows within :data:`HEALTH_STALE_SECONDS`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ok_at: float | None = None
        self._error: str | None = None
        self._first = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="health-probe",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:   # a daemon thread: it lives as long as the process
            try:
                check_writable(self.engine)
                ok, error = True, None
            except Exception as err:
                # A lock not granted in time means busy, not broken: the last write still
                # stands, and only HEALTH_STALE_SECONDS without one turn /healthz degraded
                # (one 0.8 s wait behind 100 clients' writes did, in CI). Full, corrupt or
                # unreachable is reported at once.
                ok, error = False, None if lock_timed_out(err) else type(err).__name__
                log.warning("health probe: the database cannot take a write (%s)",
                            error or "its lock was busy")
            with self._lock:
                if ok:
                    self._ok_at = time.monotonic()
                self._error = error
            self._first.set()
            time.sleep(HEALTH_PROBE_SECONDS)

    def probed(self) -> bool:
        """Whether the first probe has finished."""
        return self._first.is_set()

    def problem(self) -> str | None:
        """Why the service is degraded, or ``None`` when it is healthy."""
        with self._lock:
            ok_at, error = self._ok_at, self._error
        if ok_at is not None and error is None and \
                time.monotonic() - ok_at < HEALTH_STALE_SECONDS:
            return None
        if error is not None:
            return "the database cannot take a write"
        return "the database did not take a write in time"


def jsonable_safe(value: Any) -> Any:
    """``value`` made strict JSON whose text always encodes to UTF-8."""
    value = jsonable(value)
    if isinstance(value, dict):
        return {safe_text(k): jsonable_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable_safe(v) for v in value]
    return safe_text(value) if isinstance(value, str) else value


def _parse(payload: dict[str, Any]) -> Any:
    """Validate the payload into a Scenario; user mistakes become 422 (InputError)."""
    from formulations.loading import scenario_from_tables

    try:
        return scenario_from_tables(payload)
    except BundleoptError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as err:
        # Input the loader did not anticipate; still the user's input, not a crash.
        raise InputError("payload", f"not a valid scenario ({type(err).__name__}: {err})"
                         ) from None


def _options(scenario: Any, settings: ServiceSettings) -> dict[str, Any]:
    """Solver options of a submission: the scenario's, with the service's caps."""
    o = scenario.solver
    check_threads(o.threads)
    return {"backend": o.backend,
            "time_limit": service_time_limit(o.time_limit, settings.default_time_limit,
                                             settings.max_time_limit),
            "mip_gap": o.mip_gap, "threads": o.threads}


def _error_body(err: BundleoptError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": safe_text(err)}
    if isinstance(err, InputError):
        body.update(table=safe_text(err.source),
                    row=err.row, field=safe_text(err.field) if err.field is not None else None)
    return body
