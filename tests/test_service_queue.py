"""The database-backed queue and its migrations, on SQLite and PostgreSQL."""
from __future__ import annotations

import concurrent.futures as cf
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import inspect, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import DB_KINDS, migrated, small_payload  # noqa: E402

from formulations.errors import ParameterError  # noqa: E402
from bundleopt.service import queue  # noqa: E402
from bundleopt.service.auth import TokenCheck, fingerprint, tokens_from_env  # noqa: E402
from bundleopt.service.db import (MIGRATIONS, jsonable, normalize_url,  # noqa: E402
                               session_factory, upgrade)
from bundleopt.service.limits import scenario_cells  # noqa: E402
from bundleopt.service.models import Audit, Solve, utcnow  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=DB_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    with migrated(request.param, tmp_path) as eng:
        yield eng


def _submit(engine: object, key: str | None = None, actor: str = "token:a",
            tenant: str = "a", payload: dict | None = None) -> Solve:
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        solve, _ = queue.enqueue(s, payload=payload or small_payload(), n_offers=1,
                                 n_segments=1, options={"time_limit": 5.0}, actor=actor,
                                 idempotency_key=key, tenant=tenant)
        return solve


def test_urls_are_normalised() -> None:
    assert normalize_url(None) == "sqlite:///bundleopt.db"
    assert normalize_url("postgresql://u@h:5/d") == "postgresql+psycopg://u@h:5/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    with pytest.raises(ParameterError, match="unsupported database"):
        normalize_url("mysql://u@h/d")
    with pytest.raises(ParameterError, match="not a database URL"):
        normalize_url("nonsense")


def test_migrations_ship_inside_the_package_and_are_idempotent(engine: object) -> None:
    assert (MIGRATIONS / "env.py").is_file() and list((MIGRATIONS / "versions").glob("0*.py"))
    assert MIGRATIONS.parent.parts[-2:] == ("bundleopt", "service")
    upgrade(engine)  # type: ignore[arg-type]  # second run: nothing to do, no error
    tables = set(inspect(engine).get_table_names())  # type: ignore[arg-type]
    assert {"scenarios", "solves", "plans", "weekly_plans", "schedules", "schedule_runs",
            "audit", "alembic_version"} <= tables


def test_concurrent_claims_hand_out_each_solve_once(engine: object) -> None:
    ids = {_submit(engine).id for _ in range(30)}
    got: list[str] = []
    lock = threading.Lock()

    def drain(n: int) -> None:
        while True:
            sid = queue.claim(engine, f"host:1:w{n}", 30)  # type: ignore[arg-type]
            if sid is None:
                return
            with lock:
                got.append(sid)

    with cf.ThreadPoolExecutor(6) as ex:
        list(ex.map(drain, range(6)))
    assert sorted(got) == sorted(ids)            # every solve, none twice
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        rows = s.scalars(select(Solve)).all()
    assert all(r.status == "running" and r.attempts == 1 and r.worker for r in rows)


def test_idempotency_key_race_makes_one_solve(engine: object) -> None:
    with cf.ThreadPoolExecutor(8) as ex:
        solves = list(ex.map(lambda _: _submit(engine, key="same").id, range(8)))
    assert len(set(solves)) == 1
    # Keys are per tenant: another tenant's same key is another solve ...
    assert _submit(engine, key="same", actor="token:b", tenant="b").id != solves[0]
    # ... while another token of the same tenant shares the tenant's key space.
    assert _submit(engine, key="same", actor="token:a2").id == solves[0]
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        audits = s.scalars(select(Audit).where(Audit.target == solves[0])).all()
    assert len(audits) == 1


def test_expired_lease_and_dead_worker_requeue(engine: object) -> None:
    a, b = _submit(engine).id, _submit(engine).id
    assert queue.claim(engine, "host:1:alive", 30) == a  # type: ignore[arg-type]
    assert queue.claim(engine, "host:2:gone", 30) == b  # type: ignore[arg-type]
    assert queue.requeue_stale(engine) == 0  # type: ignore[arg-type]  # leases still valid
    assert queue.requeue_stale(engine, ["host:2:gone"]) == 1  # type: ignore[arg-type]
    # The lost worker can no longer report on the solve it had.
    assert queue.heartbeat(engine, b, "host:2:gone", 30, None) is None  # type: ignore[arg-type]
    assert not queue.finish(engine, b, "host:2:gone", status="optimal",  # type: ignore[arg-type]
                            fields={}, plan_rows=[])
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        s.execute(update(Solve).where(Solve.id == a)
                  .values(lease_until=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert queue.requeue_stale(engine) == 1  # type: ignore[arg-type]
    assert {queue.claim(engine, "host:3:new", 30),  # type: ignore[arg-type]
            queue.claim(engine, "host:3:new", 30)} == {a, b}  # type: ignore[arg-type]


def test_a_solve_that_keeps_killing_workers_is_failed(engine: object) -> None:
    sid = _submit(engine).id
    for attempt in range(queue.MAX_ATTEMPTS):
        assert queue.claim(engine, f"host:9:w{attempt}", 30) == sid  # type: ignore[arg-type]
        queue.requeue_stale(engine, [f"host:9:w{attempt}"])  # type: ignore[arg-type]
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        solve = s.get(Solve, sid)
    assert solve.status == "failed" and "died" in solve.error
    assert queue.claim(engine, "host:9:last", 30) is None  # type: ignore[arg-type]


def test_cancel_queued_is_immediate_and_running_is_requested(engine: object) -> None:
    a, b = _submit(engine).id, _submit(engine).id
    assert queue.claim(engine, "host:1:w", 30) == a  # type: ignore[arg-type]
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        assert queue.cancel(s, b, actor="token:a", tenant="a").status == "cancelled"
        assert queue.cancel(s, a, actor="token:a", tenant="a").status == "running"
    wanted = queue.heartbeat(engine, a, "host:1:w", 30,  # type: ignore[arg-type]
                             {"objective": 1.0})
    assert wanted is True
    assert queue.claim(engine, "host:1:w2", 30) is None  # type: ignore[arg-type]


def test_finish_stores_plan_and_strict_json(engine: object) -> None:
    sid = _submit(engine).id
    queue.claim(engine, "host:1:w", 30)  # type: ignore[arg-type]
    assert queue.finish(engine, sid, "host:1:w", status="optimal",  # type: ignore[arg-type]
                        fields={"summary": {"gap": float("nan"), "n": 3}, "objective": 2.0},
                        plan_rows=[{"bundle_id": "S1", "segment_id": "*", "price": 8.1}])
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        solve = s.get(Solve, sid)
    assert solve.status == "optimal" and solve.summary == {"gap": None, "n": 3}
    assert jsonable({"x": [float("inf"), 1]}) == {"x": [None, 1]}


def test_tokens_and_fingerprints() -> None:
    assert tokens_from_env({"BUNDLEOPT_API_TOKENS": " a1 , ,b2,"}) == ["a1", "b2"]
    check = TokenCheck(["a1", "b2"])
    assert check.actor("Bearer b2") == fingerprint("b2") != fingerprint("a1")
    assert check.actor("bearer a1") == fingerprint("a1")
    for bad in (None, "", "Bearer", "Bearer a", "Basic a1", "Bearer a1 a1", "a1"):
        assert check.actor(bad) is None
    assert "b2" not in fingerprint("b2")


def test_scenario_cells_counts_offers_segments_and_prices() -> None:
    p = small_payload()
    assert scenario_cells(p) == 1 * 1 * 7
    p["prices"] = [{"bundle_id": "S1", "price": x} for x in range(12)]
    assert scenario_cells(p) == 12
    p["segments"] = [{"segment_id": f"s{i}"} for i in range(5)]
    assert scenario_cells(p) == 60
    assert scenario_cells({"bundles": "junk", "segments": 3}) == 0


def test_a_dead_plan_run_solve_is_closed_not_queued(engine: object) -> None:
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        solve, _ = queue.enqueue(s, payload=small_payload(), n_offers=1, n_segments=1,
                                 options={}, actor="weekly:x", source="weekly",
                                 status="running", tenant="default")
        s.execute(update(Solve).where(Solve.id == solve.id).values(worker="host:7:weekly"))
        s.commit()
    assert queue.requeue_stale(engine, ["host:7:weekly"]) == 0  # type: ignore[arg-type]
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        assert s.get(Solve, solve.id).status == "failed"
    assert queue.claim(engine, "host:1:w", 30) is None  # type: ignore[arg-type]


def test_the_default_cell_cap_takes_a_retail_scale_scenario() -> None:
    """1,000 candidate offers × 50 segments × a 20-point ladder: one million cells."""
    from bundleopt.service.limits import ServiceSettings

    payload = {"bundles": [{"bundle_id": f"B{i}"} for i in range(1000)],
               "segments": [{"segment_id": f"S{i}"} for i in range(50)],
               "scenario": {"price_ladder": {"discounts": [i / 100 for i in range(20)]}}}
    assert scenario_cells(payload) == 1_000_000
    assert scenario_cells(payload) <= ServiceSettings(db_url="sqlite://").max_cells


def test_the_logged_database_url_hides_the_password() -> None:
    from bundleopt.service.db import describe_url

    shown = describe_url("postgresql+psycopg://planner:s3cr3t-pw@db.internal:5432/bundleopt")
    assert "s3cr3t-pw" not in shown and "db.internal" in shown and "planner" in shown


def test_tenant_entries_are_parsed_and_checked() -> None:
    check = TokenCheck(["acme:t1", "acme:t2", "bare-token"], ["ops:t9"])
    a1, a2, bare, ops = (check.caller(f"Bearer {t}") for t in ("t1", "t2", "bare-token", "t9"))
    assert a1.tenant == a2.tenant == "acme" and a1.actor != a2.actor and not a1.admin
    assert bare.tenant == fingerprint("bare-token") and ops.tenant == "ops" and ops.admin
    for bad in (["bad tenant:x"], ["acme:"], ["acme:t1", "globex:t1"]):
        with pytest.raises(ParameterError) as err:
            TokenCheck(bad)
        assert "t1" not in str(err.value).replace("token", "")   # never echoes a secret
