"""The service split in roles over one database: an API-only ``serve --workers 0`` takes
solves and a separate ``bundleopt worker`` process solves them (SQLite file and
PostgreSQL); SIGTERM to a worker node stops it taking work, and a running solve either
finishes within ``--grace`` or goes back to the queue without costing an attempt.

Real processes throughout: the server and the worker node are subprocesses, the solver
is HiGHS.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import (DB_KINDS, TERMINAL, Server, WorkerNode,  # noqa: E402
                                  database, db_solve, hard_payload, small_payload,
                                  wait_status)

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _wait_running(client, solve_id: str, timeout: float = 60.0) -> dict:
    return wait_status(client, solve_id, {"running"} | TERMINAL, timeout=timeout)


@pytest.mark.parametrize("kind", DB_KINDS)
def test_api_only_server_and_worker_node_solve_end_to_end(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        srv = Server(url, tmp_path, workers=0, args=("--log-format", "json")).start()
        node = WorkerNode(url, tmp_path, processes=1, log_format="json")
        try:
            assert len(srv.pids()) == 1          # no worker processes under the API
            with srv.client() as c:
                r = c.post("/v1/solves", json=small_payload())
                assert r.status_code in (200, 201, 202), r.text
                sid = r.json()["id"]
                time.sleep(2.0)
                # Nobody solves on an API-only instance: the solve waits for a worker.
                assert c.get(f"/v1/solves/{sid}").json()["status"] == "queued"
                node.start()
                body = wait_status(c, sid, TERMINAL, timeout=90)
                assert body["status"] == "optimal", body
                plan = c.get(f"/v1/solves/{sid}/plan")
                assert plan.status_code == 200 and plan.json()["rows"], plan.text
            row = db_solve(url, sid)
            host_pid = int(row.worker.split(":")[1])
            assert ":worker:" in row.worker and host_pid in node.pids()
            assert host_pid not in srv.pids() and row.attempts == 1
            assert node.terminate(timeout=60) == 0
            # --log-format json: every line of both is a JSON object; the solve's lines,
            # on the API and on the worker node, carry its id and tenant.
            for log, said in ((node.log, "finished"), (srv.log, "queued solve")):
                lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
                assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)
                mine = [x for x in lines if x.get("solve_id") == sid]
                assert any(said in x["message"] for x in mine), lines
                assert all(x["tenant"] == row.tenant for x in mine), mine
        finally:
            node.stop()
            srv.stop()


def test_sigterm_hands_a_running_solve_back_without_an_attempt(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url:
        srv = Server(url, tmp_path, workers=0).start()
        first = WorkerNode(url, tmp_path, processes=1, grace=0).start()
        second = WorkerNode(url, tmp_path, processes=1, grace=60)
        try:
            with srv.client() as c:
                sid = c.post("/v1/solves", json=hard_payload(time_limit=6)).json()["id"]
                assert _wait_running(c, sid)["status"] == "running"
                time.sleep(1.0)
                t0 = time.monotonic()
                assert first.terminate(timeout=30) == 0
                assert time.monotonic() - t0 < 15      # --grace 0: handed back at once
                row = db_solve(url, sid)
                assert row.status == "queued" and row.attempts == 0 and row.worker is None
                # A node with a long grace lets its solve finish after SIGTERM.
                second.start()
                assert _wait_running(c, sid)["status"] == "running"
                time.sleep(1.0)
                second.proc.send_signal(15)
                time.sleep(1.5)
                assert second.proc.poll() is None     # still finishing its solve
                assert second.proc.wait(timeout=90) == 0
                body = c.get(f"/v1/solves/{sid}").json()
                assert body["status"] in ("optimal", "feasible"), body
            assert db_solve(url, sid).attempts == 1
        finally:
            first.stop()
            second.stop()
            srv.stop()


def test_serve_with_a_grace_finishes_its_running_solve_on_sigterm(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url:
        srv = Server(url, tmp_path, workers=1, args=("--grace", "60")).start()
        try:
            with srv.client() as c:
                sid = c.post("/v1/solves", json=hard_payload(time_limit=6)).json()["id"]
                queued = c.post("/v1/solves", json=small_payload()).json()["id"]
                assert _wait_running(c, sid)["status"] == "running"
            time.sleep(1.0)
            srv.stop()          # SIGTERM; waits for the exit
            assert srv.proc.returncode is not None
        finally:
            srv.stop()
        row = db_solve(url, sid)
        assert row.status in ("optimal", "feasible") and row.attempts == 1, row.status
        # The worker took no new solve once told to stop: the other one still waits.
        assert db_solve(url, queued).status == "queued"


def test_the_cli_offers_the_log_formats_the_service_knows() -> None:
    # The CLI spells them out so that loading it does not load the service.
    from bundleopt.cli.service import LOG_FORMATS as offered
    from bundleopt.service.logs import LOG_FORMATS as known

    assert offered == known
