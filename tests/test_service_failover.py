"""Failover of a fleet on one PostgreSQL: two API-only front ends, two worker nodes,
clients from several tenants that round-robin and retry with their idempotency keys
(``benchmarks/bench_failover.py`` at a small scale; the PostgreSQL outage run, which
needs its own server to stop, is in the benchmark only).

- ``kill -9`` of the worker node holding running solves: each is picked up by the
  other node, ends with exactly one stored result, and the loss costs it no attempt.
- rolling restart (SIGTERM to an instance of each role in turn, each restarted; the
  benchmark restarts all four): no request fails after its retries, no solve is lost or
  stores two results.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from test_service_support import database, needs_pg  # noqa: E402

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
    assert res["max_attempts"] >= 2, res         # a killed solve ran again elsewhere


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
