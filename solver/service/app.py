"""The FastAPI application: the HTTP contract of SERVICE.md plus listings and schedules.

Handlers only read and write the database; solving happens in the worker processes
(:mod:`solver.service.worker`). A submission is committed before ``202`` is sent, so
an accepted solve survives anything that happens afterwards.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from formulations.errors import BundleoptError, InputError

from . import queue, schedules
from .auth import RequireToken, TokenCheck
from .db import jsonable, make_engine, session_factory, upgrade
from .limits import BodyLimit, ServiceSettings, parse_json, scenario_cells
from .models import Audit, Plan, ScenarioRow, Schedule, Solve, WeeklyPlan

MAX_OFFSET = 1_000_000_000   # keeps OFFSET within every database's integer range


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
    config: str = Field(min_length=1, max_length=4096,
                        description="path (on the server) of a weekly plan config")
    week_offset: int = Field(1, ge=-1, le=8, description="plan the ISO week this many "
                             "weeks after the run's date")
    enabled: bool = True


class ScheduleOut(BaseModel):
    name: str
    cron: str
    config: str
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
            # Same definition as solver.api: |bound - objective| / max(|objective|, |bound|).
            gap = (abs(bound - obj) / max(abs(obj), abs(bound), 1e-9)
                   if obj is not None and bound is not None else None)
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
    return {"name": s.name, "cron": s.cron, "config": s.config, "week_offset": s.week_offset,
            "enabled": s.enabled, "created_by": s.created_by,
            "next_run_at": _iso(s.next_run_at)}


# ------------------------------------------------------------------------ the app
def create_app(settings: ServiceSettings, engine: Engine | None = None, *,
               migrate: bool = True,
               on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    """Build the app over ``settings.db_url`` (or ``engine``); migrations run at startup.

    ``on_shutdown`` runs when the server shuts down (uvicorn re-raises SIGTERM after
    its shutdown, so code after ``Server.run()`` would never run).
    """
    engine = engine or make_engine(settings.db_url)
    Sessions = session_factory(engine)
    tokens = TokenCheck(settings.tokens)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await run_in_threadpool(upgrade, engine)
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    app = FastAPI(title="bundleopt", version="1",
                  description="Bundle offer & pricing solves as a service (SERVICE.md).",
                  lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequireToken, check=tokens)   # added last = runs first
    app.state.engine = engine

    def session() -> Any:
        with Sessions() as s:
            yield s

    def actor(request: Request,
              _cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        who = tokens.actor(request.headers.get("authorization"))
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
                {"loc": ["query", name], "type": "extra_forbidden", "msg": hint,
                 "input": request.query_params[name]} for name in unknown])
        return who

    @app.exception_handler(BundleoptError)
    async def _user_error(_request: Request, err: BundleoptError) -> JSONResponse:
        return JSONResponse(_error_body(err), status_code=422)

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

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability; needs no token."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            raise HTTPException(503, "database unreachable") from None
        return {"status": "ok"}

    # -------------------------------------------------------------------- solves
    @app.post("/v1/solves", status_code=202, response_model=SolveRef, tags=["solves"],
              responses={401: {}, 413: {}, 422: {}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": SCENARIO_SCHEMA}}}})
    async def submit(request: Request, who: str = Depends(actor),
                     idempotency_key: str | None = Header(
                         None, max_length=255,
                         description="retries with the same key return the same solve"),
                     ) -> dict[str, str]:
        """Queue a solve of the scenario in the body; recorded before 202 is sent."""
        body = await request.body()
        return await run_in_threadpool(_submit, body, who, idempotency_key)

    def _submit(body: bytes, who: str, key: str | None) -> dict[str, str]:
        if key is not None and not key.strip():
            raise HTTPException(422, "Idempotency-Key must not be blank")
        # A retry is validated like the first request: a broken body is never "accepted".
        try:
            payload = parse_json(body)
        except ValueError as err:
            raise HTTPException(422, f"body is not valid JSON: {err}") from None
        if not isinstance(payload, dict):
            raise InputError("payload", "expected a JSON object with the scenario tables")
        cells = scenario_cells(payload)
        if cells > settings.max_cells:
            raise HTTPException(413, f"scenario too large: {cells} offer × segment × price "
                                f"cells, the limit is {settings.max_cells}")
        options = _options(_parse(payload), settings)
        n_offers = len({str(r.get("bundle_id")) for r in payload["bundles"]})
        with Sessions() as s:
            solve, _ = queue.enqueue(s, payload=payload, n_offers=n_offers,
                                     n_segments=len(payload["segments"]), options=options,
                                     actor=who, idempotency_key=key)
            return {"id": solve.id, "status": solve.status}

    @app.get("/v1/solves", response_model=SolveList, tags=["solves"])
    def list_solves(status: str | None = Query(None, max_length=16),
                    limit: int = Query(50, ge=1, le=500), offset: int = _offset(),
                    who: str = Depends(actor), s: Session = Depends(session)) -> Any:
        """Solves, newest first, optionally of one status."""
        q = select(Solve).order_by(Solve.created_at.desc(), Solve.id)
        if status:
            q = q.where(Solve.status == status)
        return {"solves": [solve_out(x) for x in s.scalars(q.limit(limit).offset(offset))]}

    @app.get("/v1/solves/{solve_id}", response_model=SolveOut, tags=["solves"],
             responses={404: {}})
    def get_solve(solve_id: str, who: str = Depends(actor),
                  s: Session = Depends(session)) -> Any:
        """Status and summary (progress while running)."""
        return solve_out(_solve(s, solve_id))

    @app.get("/v1/solves/{solve_id}/details", response_model=SolveDetail, tags=["solves"],
             responses={404: {}})
    def get_solve_details(solve_id: str, who: str = Depends(actor),
                          s: Session = Depends(session)) -> Any:
        """Everything stored about a solve: options, timings, versions, solver log."""
        x = _solve(s, solve_id)
        return {**solve_out(x), "scenario_hash": x.scenario_hash, "options": x.options,
                "submitted_by": x.submitted_by, "source": x.source, "attempts": x.attempts,
                "objective": x.objective, "bound": x.bound, "gap": x.gap,
                "backend": x.backend, "build_seconds": x.build_seconds,
                "solve_seconds": x.solve_seconds, "versions": x.versions, "log": x.log}

    @app.get("/v1/solves/{solve_id}/plan", response_model=Rows, tags=["solves"],
             responses={404: {}, 409: {}})
    def get_plan(solve_id: str, who: str = Depends(actor),
                 s: Session = Depends(session)) -> Any:
        """plan.csv's rows of a finished solve."""
        x = _solve(s, solve_id)
        if x.status in ("queued", "running"):
            raise HTTPException(409, f"solve {solve_id} is {x.status}; no plan yet")
        plan = s.scalars(select(Plan).where(Plan.solve_id == solve_id)).first()
        if plan is None:
            raise HTTPException(404, f"solve {solve_id} has no plan (status {x.status})")
        return {"rows": plan.rows}

    @app.delete("/v1/solves/{solve_id}", response_model=SolveOut, tags=["solves"],
                responses={404: {}, 409: {}})
    def cancel_solve(solve_id: str, who: str = Depends(actor),
                     s: Session = Depends(session)) -> Any:
        """Cancel a queued solve now, or stop a running one (it ends ``cancelled``)."""
        x = _solve(s, solve_id)
        if x.status not in ("queued", "running"):
            raise HTTPException(409, f"solve {solve_id} already finished ({x.status})")
        x = queue.cancel(s, solve_id, who)
        return solve_out(x)

    @app.get("/v1/scenarios/{digest}", tags=["solves"], responses={404: {}})
    def get_scenario(digest: str, who: str = Depends(actor),
                     s: Session = Depends(session)) -> Any:
        """A stored scenario payload by content hash (to reproduce a solve)."""
        row = s.get(ScenarioRow, digest)
        if row is None:
            raise HTTPException(404, f"no scenario {digest}")
        return row.payload

    # ------------------------------------------------------------- weekly plans
    @app.get("/v1/plans", response_model=WeeklyList, tags=["plans"])
    def list_plans(name: str | None = Query(None, max_length=128),
                   limit: int = Query(100, ge=1, le=1000), offset: int = _offset(),
                   who: str = Depends(actor), s: Session = Depends(session)) -> Any:
        """Stored weekly plans, newest week first."""
        q = select(WeeklyPlan).order_by(WeeklyPlan.week.desc(), WeeklyPlan.name)
        if name:
            q = q.where(WeeklyPlan.name == name)
        return {"plans": [_weekly_out(w) for w in s.scalars(q.limit(limit).offset(offset))]}

    @app.get("/v1/plans/{name}/{week}", response_model=WeeklyPlanOut, tags=["plans"],
             responses={404: {}})
    def get_weekly(name: str, week: str, who: str = Depends(actor),
                   s: Session = Depends(session)) -> Any:
        """One week's plan with its rows."""
        w = s.scalars(select(WeeklyPlan).where(WeeklyPlan.name == name,
                                               WeeklyPlan.week == week)).first()
        if w is None:
            raise HTTPException(404, f"no plan {name!r} for week {week}")
        plan = (s.scalars(select(Plan).where(Plan.solve_id == w.solve_id)).first()
                if w.solve_id else None)
        return {**_weekly_out(w), "rows": plan.rows if plan else []}

    # ---------------------------------------------------------------- schedules
    @app.put("/v1/schedules/{name}", response_model=ScheduleOut, tags=["schedules"],
             responses={422: {}})
    def put_schedule(name: str, body: ScheduleIn, who: str = Depends(actor),
                     s: Session = Depends(session)) -> Any:
        """Create or replace a schedule (the name in the path wins)."""
        data = body.model_dump()
        data["name"] = name
        return _schedule_out(schedules.upsert(s, data, who))

    @app.post("/v1/schedules", response_model=ScheduleOut, status_code=201,
              tags=["schedules"], responses={422: {}})
    def post_schedule(body: ScheduleIn, who: str = Depends(actor),
                      s: Session = Depends(session)) -> Any:
        """Create or replace a schedule."""
        return _schedule_out(schedules.upsert(s, body.model_dump(), who))

    @app.get("/v1/schedules", response_model=ScheduleList, tags=["schedules"])
    def list_schedules(who: str = Depends(actor), s: Session = Depends(session)) -> Any:
        """All schedules."""
        return {"schedules": [_schedule_out(x) for x in
                              s.scalars(select(Schedule).order_by(Schedule.name))]}

    @app.delete("/v1/schedules/{name}", status_code=204, tags=["schedules"],
                responses={404: {}})
    def delete_schedule(name: str, who: str = Depends(actor),
                        s: Session = Depends(session)) -> None:
        """Remove a schedule (its past runs stay in the audit trail)."""
        if not schedules.delete(s, name, who):
            raise HTTPException(404, f"no schedule {name!r}")

    @app.get("/v1/audit", response_model=AuditList, tags=["service"])
    def audit(limit: int = Query(100, ge=1, le=1000), offset: int = _offset(),
              who: str = Depends(actor), s: Session = Depends(session)) -> Any:
        """Who submitted, cancelled or scheduled what, newest first."""
        q = select(Audit).order_by(Audit.id.desc()).limit(limit).offset(offset)
        return {"entries": [{"at": _iso(a.at), "actor": a.actor, "action": a.action,
                             "target": a.target, "detail": a.detail} for a in s.scalars(q)]}

    # Every /v1 operation can answer 401; say so in the published schema.
    for route in app.routes:
        if getattr(route, "path", "").startswith("/v1"):
            route.responses.setdefault(401, {"description": "missing or invalid token"})
            if {"POST", "PUT"} & set(getattr(route, "methods", ())):
                route.responses.setdefault(400, {"description": "unreadable body"})
            for code, text_ in ((404, "not found"), (409, "conflict"),
                                (413, "too large"), (422, "invalid input")):
                if code in route.responses:
                    route.responses[code] = {"description": text_}
    return app


def _solve(s: Session, solve_id: str) -> Solve:
    x = s.get(Solve, solve_id)
    if x is None:
        raise HTTPException(404, f"no solve {solve_id}")
    return x


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
    """Solver options of a submission: the scenario's, with the service's time caps."""
    o = scenario.solver
    limit = o.time_limit if o.time_limit else settings.default_time_limit
    return {"backend": o.backend, "time_limit": min(float(limit), settings.max_time_limit),
            "mip_gap": o.mip_gap, "threads": o.threads}


def _error_body(err: BundleoptError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": str(err)}
    if isinstance(err, InputError):
        body.update(table=err.source, row=err.row, field=err.field)
    return body
