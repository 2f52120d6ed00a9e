"""``GET /metrics``: Prometheus text an admin can scrape, refused to everyone else.

A real API-only server and a real worker node on one database (SQLite and PostgreSQL):
the queue depth read at scrape time shows a solve waiting while no worker runs, and the
finished count shows it once a worker node — another process — solved it; requests are
counted by route template; a database that cannot be reached is counted, not a 500.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import (DB_KINDS, TERMINAL, TLS, TOKENS, Server,  # noqa: E402
                                  WorkerNode, database, db_solve, small_payload,
                                  wait_status)

from bundleopt.service.auth import fingerprint  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
ADMIN = "tok-ops-5c1e0a"
ENV = {"BUNDLEOPT_ADMIN_TOKENS": f"ops:{ADMIN}"}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """``(sample name, labels) -> value`` of a scrape, parsed by prometheus-client."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(scraped: dict, name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


@pytest.mark.parametrize("kind", DB_KINDS)
def test_an_admin_scrapes_queue_and_solve_counts_across_processes(kind: str,
                                                                  tmp_path: Path) -> None:
    tenant = fingerprint(TOKENS[0])
    with database(kind, tmp_path) as url:
        srv = Server(url, tmp_path, workers=0, env=ENV).start()
        node = WorkerNode(url, tmp_path, processes=1)
        try:
            with srv.client() as c, srv.client(ADMIN) as ops:
                sid = c.post("/v1/solves", json=small_payload()).json()["id"]
                r = ops.get("/metrics")
                assert r.status_code == 200 and r.headers["content-type"].startswith(
                    "text/plain"), r.text
                before = samples(r.text)
                assert value(before, "bundleopt_queue_depth", tenant=tenant,
                             state="queued") == 1
                assert value(before, "bundleopt_solves_total", tenant=tenant,
                             status="optimal") == 0
                assert value(before, "bundleopt_database_up") == 1
                time.sleep(1.0)     # the solve waits in the queue at least this long
                node.start()
                assert wait_status(c, sid, TERMINAL, timeout=90)["status"] == "optimal"
                after = samples(ops.get("/metrics").text)
            assert value(after, "bundleopt_queue_depth", tenant=tenant, state="queued") == 0
            assert value(after, "bundleopt_queue_depth", tenant=tenant, state="running") == 0
            assert value(after, "bundleopt_solves_total", tenant=tenant, status="optimal") == 1
            assert value(after, "bundleopt_solves_total", tenant=tenant, status="failed") == 0
            assert value(before, "bundleopt_solve_seconds_count") == 0
            assert value(after, "bundleopt_solve_seconds_count") == 1
            assert value(after, "bundleopt_solve_seconds_bucket", le="+Inf") == 1
            assert value(after, "bundleopt_solve_seconds_bucket", le="600.0") == 1
            row = db_solve(url, sid)
            took = row.solve_seconds
            assert value(after, "bundleopt_solve_seconds_sum") == pytest.approx(took)
            # Started, queue wait (submission to start) and the first plan's time: all
            # from the database, so the worker node's work shows on the API's scrape.
            assert value(before, "bundleopt_solves_started_total", tenant=tenant) is None
            assert value(after, "bundleopt_solves_started_total", tenant=tenant) == 1
            assert value(before, "bundleopt_queue_wait_seconds_count") == 0
            assert value(after, "bundleopt_queue_wait_seconds_count") == 1
            waited = (row.started_at - row.created_at).total_seconds()
            assert waited >= 1.0        # it waited for the node to start
            assert value(after, "bundleopt_queue_wait_seconds_sum") == pytest.approx(
                waited, abs=0.01)
            first = (row.summary or {}).get("first_plan")
            assert value(after, "bundleopt_first_plan_seconds_count") == int(bool(first))
            if first:
                assert value(after, "bundleopt_first_plan_seconds_sum") == pytest.approx(
                    first["seconds"])
            assert value(after, "bundleopt_solve_seconds_bucket", le="0.1") == int(took <= 0.1)
            # Requests by route template, never by raw path (a solve id is not a label).
            posted = [v for (n, lab), v in after.items() if n == "bundleopt_http_requests_total"
                      and dict(lab).get("route") == "/v1/solves"
                      and dict(lab).get("method") == "POST"]
            assert posted == [1.0], posted
            polled = value(after, "bundleopt_http_requests_total",
                           route="/v1/solves/{solve_id}", method="GET", status="200")
            assert polled and polled >= 1
            assert not any(sid in dict(lab).get("route", "") for _, lab in after)
        finally:
            node.stop()
            srv.stop()


def test_metrics_are_for_admin_tokens_only(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url:
        srv = Server(url, tmp_path, workers=0, env=ENV).start()
        try:
            with srv.client() as tenant:
                r = tenant.get("/metrics")
                assert r.status_code == 403 and "bundleopt_" not in r.text, r.text
            for headers in ({}, {"Authorization": "Bearer not-a-token"},
                            {"Authorization": f"Basic {ADMIN}"}):
                r = httpx.get(srv.base + "/metrics", headers=headers, verify=TLS, timeout=10)
                assert r.status_code == 401 and "bundleopt_" not in r.text, (headers, r.text)
            with srv.client(ADMIN) as ops:
                scraped = samples(ops.get("/metrics").text)
            # The refusals above were counted, with the route they asked for.
            assert value(scraped, "bundleopt_http_requests_total", route="/metrics",
                         method="GET", status="401") == 3
            assert value(scraped, "bundleopt_http_requests_total", route="/metrics",
                         method="GET", status="403") == 1
        finally:
            srv.stop()


def test_an_unreachable_database_is_counted_not_a_500(tmp_path: Path) -> None:
    from bundleopt.service.db import make_engine
    from bundleopt.service.metrics import Metrics
    from prometheus_client import generate_latest

    # A real engine whose database does not exist: port 1 on loopback refuses at once.
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none", busy_ms=1000)
    try:
        metrics = Metrics(engine)
        for _ in range(2):
            scraped = samples(generate_latest(metrics.registry).decode())
        assert value(scraped, "bundleopt_database_up") == 0
        assert value(scraped, "bundleopt_database_errors_total", where="metrics") == 2
        assert not any(n == "bundleopt_queue_depth" for n, _ in scraped)
    finally:
        engine.dispose()
