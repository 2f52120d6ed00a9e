"""Shared helpers of the service tests: databases, a real server process, scenarios.

Holds no tests itself. Databases: SQLite files in tmp dirs, and — when
``BUNDLEOPT_TEST_PG_URL`` is set (``.ci/postgres.sh start``) — a fresh PostgreSQL
database per use, dropped afterwards.
"""
from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_URL = os.environ.get("BUNDLEOPT_TEST_PG_URL")
TOKENS = ("tok-alpha-7f3c9e", "tok-beta-21ad55")
AUTH = {"Authorization": f"Bearer {TOKENS[0]}"}
TERMINAL = {"optimal", "feasible", "infeasible", "no_solution", "failed", "cancelled"}

needs_pg = pytest.mark.skipif(not PG_URL, reason="BUNDLEOPT_TEST_PG_URL not set")
# The service speaks plain HTTP on loopback, but httpx builds a TLS context for every
# Client (about 25 ms of CPU loading the CA bundle) unless it is handed one. The load
# test's 100 clients building their own spent ~4 s of CPU, on the 2 cores the server
# under test needs, in a 5 s window; one shared context costs that once.
TLS = ssl.create_default_context()
DB_KINDS = ["sqlite", pytest.param("postgresql", marks=[needs_pg, pytest.mark.postgres])]


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of ``kind``; yields its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'svc-{uuid.uuid4().hex[:6]}.db'}"
        return
    import psycopg

    assert PG_URL
    name = f"bo_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated(kind: str, tmp_path: Path) -> Iterator[Any]:
    """A fresh database of ``kind`` with the service's schema; yields its engine."""
    from bundleopt.service.db import make_engine, upgrade

    with database(kind, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def served(kind: str, tmp_path: Path, **server_args: Any) -> Iterator["Server"]:
    """A started ``serve`` over a fresh database of ``kind``; stopped afterwards."""
    with database(kind, tmp_path) as url:
        srv = Server(url, tmp_path, **server_args).start()
        try:
            yield srv
        finally:
            srv.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m bundleopt serve`` as a real subprocess in its own process group."""

    def __init__(self, db_url: str, cwd: Path, *, workers: int = 2,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        # BUNDLEOPT_API_TOKENS / BUNDLEOPT_ADMIN_TOKENS in ``env`` replace the defaults.
        self.db_url, self.cwd, self.workers, self.args = db_url, cwd, workers, args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Tests that are not about the request-rate limit get a generous one: their probes,
        # hundreds back to back under one token, met the 20/s default once clients stopped
        # costing 25 ms each (TLS above). test_service_quotas sets its own and tests it.
        self.env = {**os.environ, "BUNDLEOPT_API_TOKENS": ",".join(TOKENS),
                    "BUNDLEOPT_RATE_PER_SECOND": "1000", "BUNDLEOPT_RATE_BURST": "1000",
                    "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = cwd / f"serve-{self.port}.log"

    def start(self, timeout: float = 60.0) -> "Server":
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "bundleopt", "serve", "--port", str(self.port),
                 "--db", self.db_url, "--workers", str(self.workers), "--no-scheduler",
                 *self.args],
                cwd=self.cwd, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2, verify=TLS).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not come up: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        """``kill -9`` the whole process group: server and workers, no cleanup at all."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def client(self, token: str = TOKENS[0]) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, verify=TLS,
                            headers={"Authorization": f"Bearer {token}"})

    def pids(self) -> set[int]:
        """Live processes of the server's process group (server and workers)."""
        assert self.proc is not None
        return group_pids(self.proc.pid)


class WorkerNode:
    """``python -m bundleopt worker`` as a real subprocess in its own process group."""

    def __init__(self, db_url: str, cwd: Path, *, processes: int = 1, grace: float = 0.0,
                 log_format: str = "text", env: dict[str, str] | None = None) -> None:
        self.args = [PYTHON, "-m", "bundleopt", "worker", "--db", db_url, "--processes",
                     str(processes), "--grace", str(grace), "--log-format", log_format]
        self.cwd = cwd
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.log = cwd / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerNode":
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=fh,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM to the node (not its group: it stops its own workers); its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Stop it whatever state it is in (test teardown)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.terminate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def pids(self) -> set[int]:
        assert self.proc is not None
        return group_pids(self.proc.pid)


def group_pids(pgid: int) -> set[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def db_solve(url: str, solve_id: str) -> Any:
    """The stored row of a solve, read straight from the database."""
    from bundleopt.service.db import make_engine, session_factory
    from bundleopt.service.models import Solve

    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            return s.get(Solve, solve_id)
    finally:
        engine.dispose()


def wait_status(client: httpx.Client, solve_id: str, statuses: set[str],
                timeout: float = 60.0) -> dict[str, Any]:
    """Poll a solve until its status is in ``statuses``; its last JSON."""
    end = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < end:
        r = client.get(f"/v1/solves/{solve_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in statuses:
            return body
        time.sleep(0.2)
    raise AssertionError(f"solve {solve_id} still {body.get('status')} after {timeout}s")


def hard_payload(seed: int = 0, time_limit: float = 8.0, n_bundles: int = 40,
                 n_segments: int = 6, n_products: int = 8) -> dict[str, Any]:
    """A personalized MNL scenario that keeps HiGHS busy for several seconds.

    ``max_offers`` links the segments: without it each segment's own optimum is the
    plan, proven at once by the segment relaxation. Larger ones (1000 offers × 30
    segments) keep HiGHS in presolve for seconds."""
    rng = np.random.default_rng(seed)
    products = [{"product_id": f"P{i}", "unit_cost": round(float(rng.uniform(2, 6)), 2),
                 "list_price": round(float(rng.uniform(8, 15)), 2)} for i in range(n_products)]
    bundles = []
    for b in range(n_bundles):
        items = [b] if b < n_products else rng.choice(n_products, size=int(rng.integers(2, 4)),
                                                      replace=False)
        bundles += [{"bundle_id": f"B{b}", "product_id": f"P{int(i)}", "quantity": 1}
                    for i in items]
    segments = [{"segment_id": f"S{s}", "size": float(rng.integers(100, 1000)),
                 "price_sensitivity": round(float(rng.uniform(0.2, 0.8)), 3)}
                for s in range(n_segments)]
    wtp = [{"segment_id": f"S{s}", "product_id": f"P{i}",
            "wtp": round(float(rng.uniform(6, 16)), 2)}
           for s in range(n_segments) for i in range(n_products)]
    return {"scenario": {"pricing": "personalized", "choice_model": "mnl",
                         "constraints": {"max_offers": 6},
                         "solver": {"time_limit": time_limit}},
            "products": products, "bundles": bundles, "segments": segments, "wtp": wtp}


def small_payload() -> dict[str, Any]:
    """SERVICE.md's example scenario."""
    return {"scenario": {"pricing": "uniform", "constraints": {"max_offers": 5}},
            "products": [{"product_id": "P1", "unit_cost": 4, "list_price": 9,
                          "inventory": 500}],
            "bundles": [{"bundle_id": "S1", "product_id": "P1", "quantity": 1}],
            "segments": [{"segment_id": "young", "size": 1200, "price_sensitivity": 0.2}],
            "wtp": [{"segment_id": "young", "bundle_id": "S1", "wtp": 8.5}],
            "prices": [], "previous_plan": []}
