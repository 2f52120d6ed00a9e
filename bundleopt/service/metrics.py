"""``GET /metrics``: what an operator watches, in Prometheus text (``prometheus-client``).

Two kinds of figures, kept apart on purpose:

- **from the database, at scrape time** (:class:`DatabaseFigures`): queue depth per
  tenant and state, solves started and solves per tenant and final status, and three
  histograms: solver time, queue wait (submission to start) and the first plan's time
  (from each summary). The queue lives in the
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
        dialect = self.engine.dialect.name
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(Solve.tenant, Solve.status, func.count())
                                    .group_by(Solve.tenant, Solve.status)).all()
                started = conn.execute(select(Solve.tenant, func.count())
                                       .where(Solve.started_at.is_not(None))
                                       .group_by(Solve.tenant)).all()
                times = {name: conn.execute(_histogram_query(*what(dialect))).one()
                         for name, (_doc, what, _b) in HISTOGRAMS.items()}
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
        begun = CounterMetricFamily("bundleopt_solves_started",
                                    "Solves a worker has started (a re-queued solve that "
                                    "starts again counts once)", labels=["tenant"])
        counts = {(str(t), str(s)): int(n) for t, s, n in rows}
        for tenant in sorted({t for t, _ in counts}):
            for state in QUEUE_STATES:
                depth.add_metric([tenant, state], counts.get((tenant, state), 0))
            for status in sorted(TERMINAL):
                done.add_metric([tenant, status], counts.get((tenant, status), 0))
        for tenant, n in sorted((str(t), int(n)) for t, n in started):
            begun.add_metric([tenant], n)
        yield depth
        yield done
        yield begun
        for name, (doc, _what, buckets) in HISTOGRAMS.items():
            yield _histogram(name, doc, buckets, times[name])


def _seconds_between(dialect: str, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, as the database computes it."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _solve_seconds(_dialect: str) -> tuple[Any, Any, tuple[float, ...]]:
    took = Solve.solve_seconds
    return took, Solve.status.in_(sorted(TERMINAL)) & took.is_not(None), SOLVE_BUCKETS


def _queue_wait(dialect: str) -> tuple[Any, Any, tuple[float, ...]]:
    return (_seconds_between(dialect, Solve.started_at, Solve.created_at),
            Solve.started_at.is_not(None), WAIT_BUCKETS)


def _first_plan_seconds(_dialect: str) -> tuple[Any, Any, tuple[float, ...]]:
    took = Solve.summary[("first_plan", "seconds")].as_float()
    return took, Solve.status.in_(sorted(TERMINAL)) & took.is_not(None), FIRST_PLAN_BUCKETS


#: Upper bounds (seconds) of the queue-wait and first-plan histograms' buckets.
WAIT_BUCKETS = (0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
FIRST_PLAN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0)
#: The histograms read from the database: name → (help, (value, which solves, buckets)).
HISTOGRAMS: dict[str, tuple[str, Callable[[str], tuple[Any, Any, tuple[float, ...]]],
                            tuple[float, ...]]] = {
    "bundleopt_solve_seconds": ("Solver time of the solves that ran to an end (their "
                                "solve_seconds)", _solve_seconds, SOLVE_BUCKETS),
    "bundleopt_queue_wait_seconds": ("Time from submission to the latest start by a "
                                     "worker, of the solves started", _queue_wait,
                                     WAIT_BUCKETS),
    "bundleopt_first_plan_seconds": ("Time to the first plan (the heuristic's, from the "
                                     "summary) of the solves that ended with one",
                                     _first_plan_seconds, FIRST_PLAN_BUCKETS),
}


def _histogram_query(value: Any, counted: Any, buckets: tuple[float, ...]) -> Any:
    """Bucket counts, count and sum of ``value`` over the solves ``counted``, in one pass
    by the database (the figures hold across processes and instances)."""
    cells = [func.sum(case((counted & (value <= b), 1), else_=0)) for b in buckets]
    return select(*cells, func.sum(case((counted, 1), else_=0)),
                  func.sum(case((counted, value), else_=0.0)))


def _histogram(name: str, doc: str, buckets: tuple[float, ...],
               row: Any) -> HistogramMetricFamily:
    *counts, total, seconds = (x or 0 for x in row)
    bounds = [(str(b), int(n)) for b, n in zip(buckets, counts)] + [("+Inf", int(total))]
    return HistogramMetricFamily(name, doc, buckets=bounds, sum_value=float(seconds))


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
