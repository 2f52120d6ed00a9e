"""The FastAPI application: the HTTP contract of SERVICE.md plus listings and schedules.

Handlers only read and write the database; solving happens in the worker processes
(:mod:`bundleopt.service.worker`). The routes live in :mod:`.routes` (one router per
resource), what they share in :mod:`.deps`, their shapes in :mod:`.schemas`, the error
answers in :mod:`.handlers`; this module wires them together. Every handler sees the
caller's tenant only (admins, through separately named queries, see all): another
tenant's id or name is answered exactly like one that does not exist.
"""
from __future__ import annotations

import threading
from contextlib import asynccontextmanager, nullcontext
from typing import AsyncIterator, Callable

import anyio.to_thread
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from solver.machine import machine_cores

from . import handlers, web
from .auth import SCOPE_KEY, RequireToken, TokenCheck
from .db import (REQUEST_THREADS, health_engine, make_engine, make_engines, session_factory,
                 upgrade)
from .deadline import RequestDeadline
from .deps import RETRY_AFTER, Service
from .health import HEALTH_TIMEOUT_MS, HealthProbe
from .limits import BodyLimit, QuotaGate, ServiceSettings, TenantQuotas
from .metrics import CountRequests, Metrics
from .routes import ROUTERS


def create_app(settings: ServiceSettings, engine: Engine | None = None, *,
               read_engine: Engine | None = None, migrate: bool = True,
               on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    """Build the app over ``settings.db_url`` (or ``engine``); migrations run at startup.

    ``engine`` takes the writes, ``read_engine`` (default: a snapshot-reading engine
    over the same database) the reads. The health probe runs while the app's lifespan
    does. ``on_shutdown`` runs when the server shuts down (uvicorn re-raises SIGTERM
    after its shutdown, so code after ``Server.run()`` would never run).
    """
    svc = _service(settings, engine, read_engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The database pools are sized to these threads (db.REQUEST_THREADS).
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        if migrate:
            await run_in_threadpool(upgrade, svc.engine)
        await run_in_threadpool(_purge_sessions, svc)
        svc.health.start()
        try:
            yield
        finally:
            await run_in_threadpool(svc.health.stop)
            if on_shutdown is not None:
                await run_in_threadpool(on_shutdown)

    app = FastAPI(title="bundleopt", version="1",
                  description="Bundle offer & pricing solves as a service (SERVICE.md).",
                  lifespan=lifespan)
    app.state.service = svc
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(QuotaGate, quotas=TenantQuotas(settings),
                       max_body_bytes=settings.max_body_bytes, scope_key=SCOPE_KEY)
    app.add_middleware(RequireToken, check=svc.tokens)
    web.install(app)
    app.add_middleware(RequestDeadline, seconds=settings.request_timeout,
                       retry_after=RETRY_AFTER)
    app.add_middleware(CountRequests, metrics=svc.metrics)   # added last = runs first
    handlers.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _purge_sessions(svc: Service) -> None:
    """Web sessions of tokens no longer configured end when the service starts."""
    from sqlalchemy.exc import SQLAlchemyError

    from .web.sessions import purge

    try:
        with svc.write_turn, svc.writes() as s:
            purge(s, svc.tokens)
            s.commit()
    except SQLAlchemyError:    # a database that cannot take it now: sessions are
        pass                   # still refused one by one (web/sessions.lookup)


def _service(settings: ServiceSettings, engine: Engine | None,
             read_engine: Engine | None) -> Service:
    if engine is None:
        engine, default_read = make_engines(settings.db_url)
    else:
        default_read = (make_engine(settings.db_url, read_only=True, pool_size=REQUEST_THREADS)
                        if engine.dialect.name == "sqlite" else engine)
    read_engine = read_engine or default_read
    sqlite = engine.dialect.name == "sqlite"
    metrics = Metrics(read_engine)
    return Service(settings=settings, engine=engine, read_engine=read_engine,
                   reads=session_factory(read_engine), writes=session_factory(engine),
                   write_turn=threading.Lock() if sqlite else nullcontext(),
                   cpu_turn=threading.BoundedSemaphore(machine_cores()),
                   tokens=TokenCheck(settings.tokens, settings.admin_tokens),
                   health=HealthProbe(health_engine(settings.db_url, HEALTH_TIMEOUT_MS),
                                      on_error=metrics.db_error("health_probe")),
                   metrics=metrics)

