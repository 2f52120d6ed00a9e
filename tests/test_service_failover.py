"""Failover of a fleet on one PostgreSQL: two API-only front ends, two worker nodes,
clients from several tenants that round-robin and retry with their idempotency keys
(``benchmarks/bench_failover.py`` at a small scale).

- ``kill -9`` of the worker node holding running solves: each is picked up by the
  other node, ends with exactly one stored result, and the loss costs it no attempt.
- rolling restart (SIGTERM to an instance of each role in turn, each restarted; the
  benchmark restarts all four): no request fails after its retries, no solve is lost or
  stores two results.
- PostgreSQL stopped longer than the lease (a server of the test's own, started with
  ``.ci/postgres.sh``): requests answer 503, never 500, within the request timeout;
  workers stop the solves whose lease they cannot renew; nothing is lost or stored
  twice; every instance recovers by itself.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from test_service_support import ROOT, database, needs_pg  # noqa: E402

import bench_failover  # noqa: E402

pytestmark = [needs_pg, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]
SMALL = dict(clients=5, tenants=3, processes=1, time_limit=2.0, warmup=2.0, after=1.0,
             grace=10.0)


def _no_loss(res: dict) -> None:
    assert res["solves_accepted"] > 0
    assert res["requests_failed"] == 0 and res["http_500"] == 0, res
    assert res["solves_lost"] == 0 and res["solves_finished"] == res["solves_accepted"], res
    assert res["solves_with_two_results"] == 0, res
    assert res["duplicate_solves_for_one_key"] == 0, res
    assert set(res["solves_by_status"]) <= {"optimal", "feasible"}, res


def test_kill9_of_a_worker_node_loses_nothing_and_costs_no_attempt(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        res = bench_failover.run("kill9", url, tmp_path / "kill9", **SMALL)
    _no_loss(res)
    fault = res["fault"]
    assert fault["its_running_solves"] >= 1 and fault["not_recovered"] == 0, fault
    assert res["solves_with_counted_crashes"] == 0, res
    # killed solves ran again elsewhere (above), and their lost runs are not attempts
    assert res["max_attempts"] == 1, res


def test_a_rolling_restart_fails_no_request_and_stores_each_result_once(
        tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        res = bench_failover.run("rolling", url, tmp_path / "rolling", **SMALL,
                                 roll=("api-a", "worker-1"))
    _no_loss(res)
    steps = res["fault"]["steps"]
    assert [s["instance"] for s in steps] == ["api-a", "worker-1"]
    # SIGTERM stops each within its grace (10 s) and a margin for starting up Python.
    assert all(s["stopped_in_seconds"] < 10 + 10 for s in steps), steps
    assert res["solves_with_counted_crashes"] == 0, res


@pytest.fixture()
def own_pg(tmp_path: Path) -> Iterator[bench_failover.PgServer]:
    """A PostgreSQL server of this test's own (the shared one must not be stopped)."""
    state = tmp_path / "pg.state"
    env = {**os.environ, "BUNDLEOPT_PG_STATE": str(state)}
    start = subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "start"], env=env,
                           capture_output=True, text=True, timeout=180)
    if start.returncode != 0:
        pytest.skip(f"cannot start a PostgreSQL server of its own: {start.stderr[-300:]}")
    try:
        yield bench_failover.PgServer.from_state(state)
    finally:
        subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "stop"], env=env,
                       capture_output=True, timeout=180)


def test_a_database_outage_answers_503_loses_nothing_and_recovers(
        tmp_path: Path, own_pg: bench_failover.PgServer) -> None:
    # Solves of 10 s, a lease of 6 s, 12 s without the database: the solves running when
    # it stops cannot renew their leases and are stopped by their workers.
    settings = {"BUNDLEOPT_LEASE_SECONDS": "6", "BUNDLEOPT_REQUEST_TIMEOUT": "10"}
    with bench_failover.fresh_database(own_pg.url) as url:
        res = bench_failover.run("outage", url, tmp_path / "outage",
                                 **{**SMALL, "clients": 3, "time_limit": 10.0},
                                 outage=12.0, pg=own_pg, env=settings)
    _no_loss(res)
    logs = "".join(p.read_text() for p in (tmp_path / "outage").glob("worker-*.log"))
    assert "lease not renewed" in logs and "stopping it" in logs
    assert res["answers"].get("503", 0) > 0, res       # the outage was seen, as 503s
    assert res["slowest_answer_seconds"] < 10 + 2, res  # never past the request timeout
    fault = res["fault"]
    assert len(fault["healthy_after_seconds"]) == 2, fault
    assert fault["first_claim_after_seconds"] is not None, fault
    assert res["solves_with_counted_crashes"] == 0, res
