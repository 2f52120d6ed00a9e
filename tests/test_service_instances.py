"""The instance table: a second host on one SQLite file is refused; a solve lost with its
instance is re-queued without counting against it; a worker that cannot renew its lease
stops its solve, and only the lease holder stores a result. Bad input to ``worker``.

Real databases (SQLite, and PostgreSQL when BUNDLEOPT_TEST_PG_URL is set), real
processes for the command line.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import DB_KINDS, PYTHON, ROOT, migrated, small_payload  # noqa: E402

from bundleopt.service import instances, queue  # noqa: E402
from bundleopt.service.db import make_engine, session_factory, upgrade  # noqa: E402
from bundleopt.service.models import Instance, Plan, Solve, utcnow  # noqa: E402
from bundleopt.service.worker import _Watch  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=DB_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    with migrated(request.param, tmp_path) as eng:
        yield eng


def _submit(engine: object) -> str:
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        solve, _ = queue.enqueue(s, payload=small_payload(), n_offers=1, n_segments=1,
                                 options={"time_limit": 5.0}, actor="token:a", tenant="a")
        return solve.id


def _set(engine: object, model: type, ident: str, **values: object) -> None:
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        s.execute(update(model).where(model.id == ident).values(**values))
        s.commit()


def _row(engine: object, sid: str) -> Solve:
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        return s.get(Solve, sid)


def test_a_solve_lost_with_its_instance_costs_no_attempt(engine: object) -> None:
    """Lapsed leases: the solve of a silent instance goes back uncounted; the solve of a
    live instance (its worker process died alone) counts one crash."""
    dead, alive = (instances.register(engine, "worker"),  # type: ignore[arg-type]
                   instances.register(engine, "worker"))  # type: ignore[arg-type]
    a, b = _submit(engine), _submit(engine)
    assert queue.claim(engine, "h:1:worker:x", 30, dead) == a  # type: ignore[arg-type]
    assert queue.claim(engine, "h:2:worker:y", 30, alive) == b  # type: ignore[arg-type]
    past = utcnow() - timedelta(seconds=instances.DEAD_AFTER_SECONDS + 5)
    # Both had beaten without a gap since well before the leases below ended; the dead
    # one stopped beating a while ago.
    began = utcnow() - timedelta(minutes=5)
    _set(engine, Instance, dead, heartbeat_at=past, beating_since=began)
    _set(engine, Instance, alive, beating_since=began)
    for sid in (a, b):
        _set(engine, Solve, sid, lease_until=utcnow() - timedelta(seconds=1))
    assert queue.requeue_stale(engine) == 2  # type: ignore[arg-type]
    ra, rb = _row(engine, a), _row(engine, b)
    assert ra.status == rb.status == "queued" and ra.instance is None
    assert (ra.crashes, rb.crashes) == (0, 1)
    # the run lost with its instance is given back; the worker's own death counts
    assert (ra.attempts, rb.attempts) == (0, 1)


def test_an_instance_stopped_cleanly_is_gone_and_its_heartbeat_is_kept(engine: object) -> None:
    ident = instances.register(engine, "serve")  # type: ignore[arg-type]
    beating = instances.InstanceHeartbeat(engine, ident)  # type: ignore[arg-type]
    with engine.connect() as conn:  # type: ignore[attr-defined]
        assert queue.gone_instances(conn, [ident]) == []
    beating.start().stop()
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        row = s.get(Instance, ident)
    assert row.stopped_at is not None and row.role == "serve" and row.pid > 0
    with engine.connect() as conn:  # type: ignore[attr-defined]
        assert queue.gone_instances(conn, [ident, "never-registered"]) == [ident]


def test_only_the_lease_holder_stores_a_result(engine: object) -> None:
    """A worker whose lease lapsed and whose solve another worker took can store
    nothing: one result per solve."""
    sid = _submit(engine)
    assert queue.claim(engine, "h:1:worker:old", 30) == sid  # type: ignore[arg-type]
    _set(engine, Solve, sid, lease_until=utcnow() - timedelta(seconds=1))
    assert queue.requeue_stale(engine) == 1  # type: ignore[arg-type]
    assert queue.claim(engine, "h:2:worker:new", 30) == sid  # type: ignore[arg-type]
    rows = [{"bundle_id": "S1", "segment_id": "young", "price": 8.5}]
    assert not queue.finish(engine, sid, "h:1:worker:old", status="optimal",  # type: ignore[arg-type]
                            fields={"objective": 1.0}, plan_rows=rows)
    assert queue.finish(engine, sid, "h:2:worker:new", status="optimal",  # type: ignore[arg-type]
                        fields={"objective": 2.0}, plan_rows=rows)
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        assert s.scalar(select(func.count()).select_from(Plan)
                        .where(Plan.solve_id == sid)) == 1
        assert s.get(Solve, sid).objective == 2.0


def test_a_worker_that_cannot_renew_its_lease_stops_its_solve() -> None:
    """The heartbeat's database is unreachable (nothing listens on the port): the watch
    stops the solve before its lease could lapse."""
    down = make_engine("postgresql://nobody@127.0.0.1:9/none", busy_ms=1000, pool_size=0)
    watch = _Watch(down, "solve-1", "h:1:worker:x", lease_seconds=1.0,
                   shutdown=threading.Event(), deadline=None)
    beat = threading.Thread(target=watch.beat, args=(0.1,), daemon=True)
    beat.start()
    try:
        assert watch.cancel.wait(30), "the solve was not stopped"
        assert watch.lost and watch.unrenewed and not watch.cancelled
    finally:
        watch.done.set()
        beat.join(10)
        down.dispose()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "bundleopt", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={"PYTHONPATH": str(ROOT),
                                                    "PATH": "/usr/bin:/bin",
                                                    "BUNDLEOPT_API_TOKENS": "tok-a"})


def test_a_second_host_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    eng = make_engine(url)
    upgrade(eng)
    with eng.begin() as conn:
        conn.execute(Instance.__table__.insert().values(
            id="elsewhere:77:serve:abc", host="elsewhere", pid=77, role="serve",
            started_at=utcnow(), heartbeat_at=utcnow()))
    for cmd in (("worker", "--db", url), ("serve", "--db", url, "--port", "0")):
        run = _cli(*cmd, cwd=tmp_path)
        assert run.returncode == 2, (cmd, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "'elsewhere'" in lines[0] and "PostgreSQL" in lines[0], lines
    # Gone quiet long ago: a crashed host does not lock the file forever.
    with eng.begin() as conn:
        conn.execute(update(Instance).values(
            heartbeat_at=utcnow() - timedelta(seconds=instances.DEAD_AFTER_SECONDS + 1)))
    # Same host, several processes: fine.
    first = instances.register(eng, "serve")
    second = instances.register(eng, "worker")
    assert first != second
    eng.dispose()


@pytest.mark.parametrize("args, says", [
    (("--db", "nonsense://x"), "--db"),
    (("--db", "sqlite:///w.db", "--processes", "0"), "--processes"),
    (("--db", "sqlite:///w.db", "--grace", "-1"), "--grace"),
    (("--db", "sqlite:///w.db", "--grace", "nan"), "--grace"),
    (("--processes", "2"), "--db"),
])
def test_bad_input_to_worker_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...],
                                                    says: str) -> None:
    run = _cli("worker", *args, cwd=tmp_path)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and says in lines[0], run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "w.db").exists()


@pytest.mark.parametrize("args, says", [
    (("--db", "mysql://u@h/x"), "--db"), (("--grace", "-3"), "--grace"),
    (("--workers", "-1"), "--workers")])
def test_bad_input_to_serve_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...],
                                                   says: str) -> None:
    run = _cli("serve", *args, cwd=tmp_path)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and says in lines[0], run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "bundleopt.db").exists()


def test_a_request_past_the_timeout_is_answered_503_and_the_late_answer_dropped() -> None:
    """A handler stuck in its thread (as on a database that stopped answering): the
    client gets 503 with Retry-After at the timeout, before the handler ends, and never
    the handler's late answer. A real uvicorn server on loopback."""
    import httpx
    import uvicorn
    from fastapi import FastAPI

    from bundleopt.service.deadline import RequestDeadline
    from test_service_support import free_port

    release = threading.Event()
    app = FastAPI()

    @app.get("/stuck")
    def stuck() -> dict:
        release.wait(30)
        return {"late": True}

    @app.get("/quick")
    def quick() -> dict:
        return {"ok": True}

    @app.get("/broken")
    def broken() -> dict:
        raise RuntimeError("a bug")

    app.add_middleware(RequestDeadline, seconds=0.5, retry_after=5)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            if server.started:
                break
            threading.Event().wait(0.1)
        assert httpx.get(base + "/quick").json() == {"ok": True}
        r = httpx.get(base + "/stuck", timeout=20)
        answered_before_the_handler = not release.is_set()
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        assert "late" not in r.json() and answered_before_the_handler
        # A handler's own error is still the error it was (500), not a timeout.
        assert httpx.get(base + "/broken").status_code == 500
    finally:
        release.set()
        server.should_exit = True
        thread.join(10)


def test_a_lease_lapsed_while_its_instance_could_not_beat_costs_no_attempt(
        engine: object) -> None:
    """The database was away longer than the lease: the instance lives, but its new run
    of heartbeats began after the lease's end, so the lapse is not the solve's fault."""
    ident = instances.register(engine, "worker")  # type: ignore[arg-type]
    sid = _submit(engine)
    assert queue.claim(engine, "h:1:worker:x", 30, ident) == sid  # type: ignore[arg-type]
    ended = utcnow() - timedelta(seconds=30)
    _set(engine, Solve, sid, lease_until=ended)
    # The outage: no beat for longer than DEAD_AFTER_SECONDS, then beats again.
    _set(engine, Instance, ident, heartbeat_at=ended - timedelta(
        seconds=instances.DEAD_AFTER_SECONDS + 1))
    instances.beat(engine, ident)  # type: ignore[arg-type]
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        row = s.get(Instance, ident)
        assert row.beating_since > ended
    # Just back: its worker gets a moment to renew the lease or store its result.
    assert queue.requeue_stale(engine) == 0  # type: ignore[arg-type]
    _set(engine, Instance, ident, beating_since=utcnow() - timedelta(
        seconds=queue.RESUME_GRACE_SECONDS + 1))
    assert queue.requeue_stale(engine) == 1  # type: ignore[arg-type]
    assert _row(engine, sid).crashes == 0
    # Beats without a gap keep their run: a worker that dies alone still counts.
    assert queue.claim(engine, "h:1:worker:y", 30, ident) == sid  # type: ignore[arg-type]
    instances.beat(engine, ident)  # type: ignore[arg-type]
    with session_factory(engine)() as s:  # type: ignore[arg-type]
        run_began = s.get(Instance, ident).beating_since
    _set(engine, Solve, sid, lease_until=run_began + timedelta(milliseconds=1))
    assert queue.requeue_stale(engine) == 1  # type: ignore[arg-type]
    assert _row(engine, sid).crashes == 1
