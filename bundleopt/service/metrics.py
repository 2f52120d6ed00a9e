"""``GET /metrics``: what an operator watches, in Prometheus text (``prometheus-client``).

Two kinds of figures, kept apart on purpose:

- **from the database, at scrape time** (:class:`DatabaseFigures`): queue depth per
  tenant and state, and solves per tenant and final status. The queue lives in the
  database, so these are the same whichever instance is scraped and hold across the
  worker processes and the instances of a fleet; nothing is counted in memory.
- **this instance's own** (:class:`Metrics`): HTTP requests by route, method and status,
  and database errors this instance met. They count in the API process only (one per
  ``serve``; the worker processes serve no HTTP), so each instance is scraped and
  Prometheus sums them.

Each app has its own registry, so several apps in one process (tests) do not clash.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                   HistogramMetricFamily, Metric)
from sqlalchemy import Engine, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from .models import TERMINAL, Solve

#: Queue states shown for every tenant that has solves, 0 when it has none in them.
QUEUE_STATES = ("queued", "running")
#: The route label of a request no route took (refused by the token check, a 404 path):
#: the raw path would let any client mint label values without end.
UNROUTED = "unrouted"
#: Upper bounds (seconds) of the solve-time histogram's buckets.
SOLVE_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class DatabaseFigures:
    """A collector that counts solves in the database each time it is scraped."""

    def __init__(self, engine: Engine, on_error: Callable[[], None]) -> None:
        self.engine, self.on_error = engine, on_error

    def describe(self) -> list[Metric]:
        return []       # no query at registration time (the database may be down)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("bundleopt_database_up",
                               "1 if the database answered this scrape's queries")
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(Solve.tenant, Solve.status, func.count())
                                    .group_by(Solve.tenant, Solve.status)).all()
                times = conn.execute(_solve_time_query()).one()
        except SQLAlchemyError:
            self.on_error()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("bundleopt_queue_depth",
                                  "Solves waiting (queued) or being solved (running)",
                                  labels=["tenant", "state"])
        done = CounterMetricFamily("bundleopt_solves",
                                   "Solves that ended, by final status (optimal, feasible, "
                                   "infeasible, no_solution: finished; failed; cancelled)",
                                   labels=["tenant", "status"])
        counts = {(str(t), str(s)): int(n) for t, s, n in rows}
        for tenant in sorted({t for t, _ in counts}):
            for state in QUEUE_STATES:
                depth.add_metric([tenant, state], counts.get((tenant, state), 0))
            for status in sorted(TERMINAL):
                done.add_metric([tenant, status], counts.get((tenant, status), 0))
        yield depth
        yield done
        yield _solve_time_histogram(times)


def _solve_time_query() -> Any:
    """Bucket counts, count and sum of the solver time of the solves that ran to an end,
    counted in one pass by the database (the figures hold across instances)."""
    took = Solve.solve_seconds
    ran = Solve.status.in_(sorted(TERMINAL)) & took.is_not(None)
    buckets = [func.sum(case((ran & (took <= b), 1), else_=0)) for b in SOLVE_BUCKETS]
    return select(*buckets, func.sum(case((ran, 1), else_=0)),
                  func.sum(case((ran, took), else_=0.0)))


def _solve_time_histogram(row: Any) -> HistogramMetricFamily:
    *counts, total, seconds = (x or 0 for x in row)
    bounds = [(str(b), int(n)) for b, n in zip(SOLVE_BUCKETS, counts)] + [("+Inf", int(total))]
    return HistogramMetricFamily("bundleopt_solve_seconds", "Solver time of the solves "
                                 "that ran to an end (their solve_seconds)",
                                 buckets=bounds, sum_value=float(seconds))


class Metrics:
    """The registry of one app, and its in-process counters."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        # Registered first, so a scrape's own database error is in that scrape's count.
        self.registry.register(DatabaseFigures(engine, lambda: self.db_error("metrics")()))
        self.requests = Counter("bundleopt_http_requests", "HTTP requests answered by this "
                                "instance", ["route", "method", "status"],
                                registry=self.registry)
        self.db_errors = Counter("bundleopt_database_errors", "Database errors this "
                                 "instance met, by where", ["where"], registry=self.registry)

    def db_error(self, where: str) -> Callable[[], None]:
        """A callable that counts one database error met in ``where``."""
        child = self.db_errors.labels(where)
        return child.inc


class CountRequests:
    """ASGI middleware: count every HTTP answer by route template, method and status.

    Outermost, so the refusals of the token check and the quotas count too. The route
    is the template (``/v1/solves/{solve_id}``), never the raw path.
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}    # an exception with no answer sent is a 500 to the client

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNROUTED
            method = scope.get("method", "")
            if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
                method = "other"       # a client may send any token as a method
            self.metrics.requests.labels(route, method, str(status["code"])).inc()
