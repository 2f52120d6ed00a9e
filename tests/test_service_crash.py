"""``kill -9`` the service mid-solve: after a restart every accepted solve finishes."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import evaluate_plan_frame  # noqa: E402
from test_service_support import (DB_KINDS, TERMINAL, Server, database,  # noqa: E402
                                  group_pids, hard_payload, small_payload, wait_status)

from formulations.loading import scenario_from_tables  # noqa: E402

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def _group_alive(pgid: int, wait: float = 10.0) -> bool:
    """Whether a live (non-zombie) process of group ``pgid`` remains after ``wait`` s."""
    end = time.monotonic() + wait
    while group_pids(pgid) and time.monotonic() < end:
        time.sleep(0.2)
    return bool(group_pids(pgid))


@pytest.mark.parametrize("kind", DB_KINDS)
def test_kill9_of_everything_mid_solve_then_restart(kind: str, tmp_path: Path) -> None:
    payload = hard_payload(seed=3, time_limit=4)
    with database(kind, tmp_path) as url:
        first = Server(url, tmp_path, workers=1).start()
        try:
            with first.client() as c:
                long_id = c.post("/v1/solves", json=payload).json()["id"]
                wait_status(c, long_id, {"running"}, timeout=60)
                # One worker: this one is accepted but waits in the queue.
                queued_id = c.post("/v1/solves", json=small_payload()).json()["id"]
                time.sleep(1.0)   # let the solver get properly under way
                assert c.get(f"/v1/solves/{long_id}").json()["status"] == "running"
            first.kill9()
        finally:
            first.stop()
        assert not _group_alive(first.proc.pid)   # workers died with it

        second = Server(url, tmp_path, workers=1).start()
        try:
            with second.client() as c:
                done = wait_status(c, long_id, TERMINAL, timeout=90)
                assert done["status"] in ("optimal", "feasible")
                details = c.get(f"/v1/solves/{long_id}/details").json()
                # ran again after the restart; the run lost with the service is not counted
                assert details["attempts"] == 1
                rows = c.get(f"/v1/solves/{long_id}/plan").json()["rows"]
                feasible, objective, _ = evaluate_plan_frame(scenario_from_tables(payload),
                                                             pd.DataFrame(rows))
                assert feasible
                assert objective == pytest.approx(done["summary"]["objective"], rel=1e-6)
                assert wait_status(c, queued_id, TERMINAL, timeout=60)["status"] == "optimal"
        finally:
            second.stop()


def test_kill9_of_the_server_only_lets_its_worker_finish(tmp_path: Path) -> None:
    """The web process dies alone: its orphaned worker finishes the solve, then exits."""
    payload = hard_payload(seed=5, time_limit=4)
    with database("sqlite", tmp_path) as url:
        first = Server(url, tmp_path, workers=1).start()
        try:
            with first.client() as c:
                long_id = c.post("/v1/solves", json=payload).json()["id"]
                wait_status(c, long_id, {"running"}, timeout=60)
            os.kill(first.proc.pid, 9)
            first.proc.wait(timeout=10)
            second = Server(url, tmp_path, workers=1).start()
            try:
                with second.client() as c:
                    done = wait_status(c, long_id, TERMINAL, timeout=60)
                    assert done["status"] in ("optimal", "feasible")
                    # The orphan finished it (first attempt); nothing ran it twice.
                    assert c.get(f"/v1/solves/{long_id}/details").json()["attempts"] == 1
            finally:
                second.stop()
            assert not _group_alive(first.proc.pid, wait=20)   # the orphan did not linger
        finally:
            if _group_alive(first.proc.pid, wait=0):
                os.killpg(first.proc.pid, 9)


def test_sigterm_hands_running_solves_back_to_the_queue(tmp_path: Path) -> None:
    """A graceful stop (SIGTERM to the server alone) re-queues the solve it was running."""
    from bundleopt.service.db import make_engine, session_factory
    from bundleopt.service.models import Solve

    with database("sqlite", tmp_path) as url:
        srv = Server(url, tmp_path, workers=1).start()
        try:
            with srv.client() as c:
                solve_id = c.post("/v1/solves", json=hard_payload(7, time_limit=60)).json()["id"]
                wait_status(c, solve_id, {"running"}, timeout=60)
            os.kill(srv.proc.pid, 15)
            srv.proc.wait(timeout=60)
        finally:
            srv.stop()
        assert not _group_alive(srv.proc.pid)   # the workers stopped with the server
        engine = make_engine(url)
        with session_factory(engine)() as s:
            solve = s.get(Solve, solve_id)
        engine.dispose()
        assert solve.status == "queued" and solve.attempts == 0 and solve.worker is None
