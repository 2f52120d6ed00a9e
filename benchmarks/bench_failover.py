"""Failover of a bundleopt fleet on one PostgreSQL, measured on loopback.

The fleet: two API-only instances (``serve --workers 0``), worker nodes
(``bundleopt worker``), one PostgreSQL. Clients from several tenants submit solves with an
``Idempotency-Key``, round-robin over the two front ends and retry — the same key, the
next front end — on a refused connection, a 503 or a 429, then poll each solve to its end.
Three faults, one per run:

``kill9``    ``kill -9`` of the worker node holding the most running solves (its whole
             process group: a machine lost). Its solves must be picked up by the other
             node, end with exactly one stored result, and cost them no attempt
             (``crashes`` stays 0: the dead instance's missing heartbeat says why).
``outage``   PostgreSQL stopped (``pg_ctl stop -m fast``) for ``--outage`` seconds, then
             started on the same data directory. Requests answer 503 meanwhile (never
             500, none slower than the request timeout), accepted solves are not lost,
             every instance recovers by itself.
``rolling``  SIGTERM to each instance in turn (front ends, then worker nodes), each
             restarted before the next: no request fails after its retries, no solve
             stores two results.

Figures per run: requests answered / failed (after retries), answers by status, the
slowest single answer, solves accepted / finished / lost / with two stored results,
attempts lost to the fault (``crashes``), and the recovery time. ``--out FILE`` writes
them as JSON. The PostgreSQL server is named by a state file of ``.ci/postgres.sh``
(``BUNDLEOPT_PG_STATE=/tmp/x.state .ci/postgres.sh start``), which also says where its
data directory and ``pg_ctl`` are; a fresh database is created in it per run::

    python benchmarks/bench_failover.py --pg-state /tmp/x.state --scenario all

``tests/test_service_failover.py`` runs ``kill9`` and ``rolling`` at a small scale.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TERMINAL = {"optimal", "feasible", "infeasible", "no_solution", "failed", "cancelled"}
#: How long a client keeps retrying one request (same key, next front end) before it
#: counts it failed: longer than the outage run's 30 s.
RETRY_BUDGET = 120.0
#: The client's own timeout for one HTTP answer: the service's request timeout
#: (``BUNDLEOPT_REQUEST_TIMEOUT``, docs/service.md) plus slack; an answer slower than
#: this is a hang.
CLIENT_TIMEOUT = 20.0


# ---------------------------------------------------------------- PostgreSQL


@dataclass
class PgServer:
    """A server started by ``.ci/postgres.sh`` (its state file: DIR, BIN, PGUSER_OS, URL)."""

    dir: str
    bin: str
    user: str
    url: str
    _opts: str = ""

    @classmethod
    def from_state(cls, path: str | os.PathLike[str]) -> "PgServer":
        vals = dict(line.split("=", 1) for line in Path(path).read_text().splitlines()
                    if "=" in line)
        unq = {k: shlex.split(v)[0] if v else "" for k, v in vals.items()}
        return cls(unq["DIR"], unq["BIN"], unq["PGUSER_OS"], unq["URL"])

    def _as_pg(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        import getpass

        if self.user != getpass.getuser():
            cmd = ("runuser", "-u", self.user, "--", *cmd)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: sessions are ended, the server shuts down."""
        # The options it was started with (pg_ctl start does not remember them).
        self._opts = Path(self.dir, "data", "postmaster.opts").read_text()
        run = self._as_pg(f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-m", "fast",
                          "-w", "stop")
        assert run.returncode == 0, run.stderr

    def start(self) -> None:
        """``pg_ctl start`` on the same data directory, with the same options."""
        args = shlex.split(self._opts)[1:]
        i = args.index("-D")
        del args[i:i + 2]
        run = self._as_pg(f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-l",
                          f"{self.dir}/server.log", "-w", "-t", "60", "-o",
                          " ".join(shlex.quote(a) for a in args), "start")
        assert run.returncode == 0, run.stderr + run.stdout


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server of ``server_url``; dropped afterwards."""
    import psycopg

    name = f"bo_failover_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url.rpartition('/')[0]}/{name}"
    finally:
        for _ in range(30):
            try:
                with psycopg.connect(server_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.OperationalError:
                time.sleep(1)


# ---------------------------------------------------------------- the fleet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    """One ``serve`` or ``worker`` process of the fleet, in its own process group."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Instance":
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=fh,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=self.log.parent)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sigterm(self, timeout: float = 120.0) -> float:
        """SIGTERM to the instance (it stops its own workers); seconds until it exited."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        return time.monotonic() - t0

    def kill9(self) -> None:
        """``kill -9`` of the whole process group: no cleanup at all (a machine lost)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive():
            return
        try:
            self.sigterm(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)     # type: ignore[union-attr]
            self.proc.wait(timeout=10)                   # type: ignore[union-attr]


class Fleet:
    """Two API-only front ends and worker nodes on one database, on loopback."""

    def __init__(self, db_url: str, workdir: Path, *, tenants: int, processes: int = 1,
                 grace: float = 15.0, workers: int = 2,
                 env: dict[str, str] | None = None) -> None:
        self.db_url, self.workdir = db_url, workdir
        self.tokens = {f"tenant{i}": f"tok-{i}-{uuid.uuid4().hex[:10]}" for i in range(tenants)}
        env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT),
               "BUNDLEOPT_API_TOKENS": ",".join(f"{t}:{k}" for t, k in self.tokens.items()),
               "BUNDLEOPT_RATE_PER_SECOND": "1000", "BUNDLEOPT_RATE_BURST": "1000",
               "BUNDLEOPT_MAX_ACTIVE_PER_TENANT": "1000"}
        self.serves = []
        for name in ("api-a", "api-b"):
            port = free_port()
            self.serves.append(Instance(name, [
                PYTHON, "-m", "bundleopt", "serve", "--port", str(port), "--db", db_url,
                "--workers", "0", "--no-scheduler", "--grace", str(grace),
                "--log-format", "json"], env, workdir / f"{name}.log", port))
        self.workers = [Instance(f"worker-{i + 1}", [
            PYTHON, "-m", "bundleopt", "worker", "--db", db_url, "--processes",
            str(processes), "--grace", str(grace), "--log-format", "json"], env,
            workdir / f"worker-{i + 1}.log") for i in range(workers)]

    @property
    def bases(self) -> list[str]:
        return [s.base for s in self.serves]

    def start(self) -> "Fleet":
        # The first front end migrates the database; the others start once it has.
        self.serves[0].start()
        self.wait_ready(self.serves[0])
        for inst in self.serves[1:] + self.workers:
            inst.start()
        for inst in self.serves[1:] + self.workers:
            self.wait_ready(inst)
        return self

    def wait_ready(self, inst: Instance, timeout: float = 90.0) -> float:
        """Seconds until ``inst`` serves: /healthz 200 (front end), or registered with a
        fresh heartbeat (worker node)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if not inst.alive():
                raise RuntimeError(f"{inst.name} exited: {inst.log.read_text()[-2000:]}")
            try:
                if inst.port is not None:
                    if httpx.get(inst.base + "/healthz", timeout=2).status_code == 200:
                        return time.monotonic() - t0
                elif self._registered(inst.proc.pid):       # type: ignore[union-attr]
                    return time.monotonic() - t0
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{inst.name} not ready after {timeout} s")

    def _registered(self, pid: int) -> bool:
        rows = self.query("SELECT 1 FROM instances WHERE pid = %s AND stopped_at IS NULL",
                          (pid,))
        return bool(rows)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.db_url, connect_timeout=5) as conn:
            return list(conn.execute(sql, params).fetchall())

    def stop(self) -> None:
        for inst in self.serves + self.workers:
            inst.stop()


# ---------------------------------------------------------------- clients


def payload(seed: int, time_limit: float) -> dict[str, Any]:
    """A personalized MNL scenario that keeps HiGHS busy until ``time_limit`` (40 offers,
    6 segments, at most 6 offers: the segments are linked)."""
    from formulations.files import json_safe
    from formulations.loading import scenario_to_tables
    from formulations.synthetic import synthetic_scenario

    sc = synthetic_scenario(40, seed=seed, n_segments=6, pricing="personalized",
                            choice_model="mnl", constraints={"max_offers": 6})
    body = json_safe(scenario_to_tables(sc))
    body["scenario"]["solver"] = {**body["scenario"].get("solver", {}),
                                  "time_limit": time_limit}
    return body


@dataclass
class Tally:
    """What the clients saw, shared by all of them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter = field(default_factory=Counter)     # status code or error kind
    slowest: float = 0.0
    requests: int = 0          # logical requests (a retried one counts once)
    failed: int = 0            # logical requests that never got a final answer
    accepted: dict[str, str] = field(default_factory=dict)   # idempotency key -> solve id
    ended: dict[str, str] = field(default_factory=dict)      # solve id -> final status
    first_ok_after: dict[str, float] = field(default_factory=dict)

    def saw(self, what: str, seconds: float) -> None:
        with self.lock:
            self.answers[what] += 1
            self.slowest = max(self.slowest, seconds)


class Client(threading.Thread):
    """Submits solves until ``stop_submitting``, polling each to its end."""

    def __init__(self, idx: int, token: str, bases: list[str], tally: Tally,
                 payloads: list[dict[str, Any]], stop_submitting: threading.Event) -> None:
        super().__init__(name=f"client-{idx}", daemon=True)
        self.idx, self.bases, self.tally, self.payloads = idx, bases, tally, payloads
        self.stop_submitting = stop_submitting
        self.http = httpx.Client(timeout=CLIENT_TIMEOUT,
                                 headers={"Authorization": f"Bearer {token}"})
        self.turn = idx

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response | None:
        """One logical request: round-robin, retried on a refused connection, 5xx or 429
        (same body, same key) for up to :data:`RETRY_BUDGET`; ``None`` if it never got a
        final answer."""
        end = time.monotonic() + RETRY_BUDGET
        pause = 0.2
        with self.tally.lock:
            self.tally.requests += 1
        while time.monotonic() < end:
            self.turn += 1
            base = self.bases[self.turn % len(self.bases)]
            t0 = time.monotonic()
            try:
                r = self.http.request(method, base + path, **kw)
            except httpx.TimeoutException:
                self.tally.saw("timeout", time.monotonic() - t0)
            except httpx.TransportError:
                self.tally.saw("refused", time.monotonic() - t0)
            else:
                self.tally.saw(str(r.status_code), time.monotonic() - t0)
                if r.status_code < 500 and r.status_code != 429:
                    return r
            time.sleep(pause)
            pause = min(2.0, pause * 1.5)
        with self.tally.lock:
            self.tally.failed += 1
        return None

    def run(self) -> None:
        n = 0
        while not self.stop_submitting.is_set():
            key = f"c{self.idx}-{n}-{uuid.uuid4().hex[:6]}"
            body = self.payloads[(self.idx + n) % len(self.payloads)]
            n += 1
            r = self.call("POST", "/v1/solves", json=body, headers={"Idempotency-Key": key})
            if r is None or r.status_code not in (200, 201, 202):
                continue
            sid = r.json()["id"]
            with self.tally.lock:
                self.tally.accepted[key] = sid
            self.follow(sid)

    def follow(self, sid: str, timeout: float = 300.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self.call("GET", f"/v1/solves/{sid}")
            if r is not None and r.status_code == 200 and r.json()["status"] in TERMINAL:
                with self.tally.lock:
                    self.tally.ended[sid] = r.json()["status"]
                return
            time.sleep(0.5)


# ---------------------------------------------------------------- runs


def _running_by_pid(fleet: Fleet) -> dict[int, list[str]]:
    """Running solves by the pid of the instance whose worker holds them."""
    rows = fleet.query("SELECT s.id, i.pid FROM solves s JOIN instances i "
                       "ON i.id = s.instance WHERE s.status = 'running'")
    out: dict[int, list[str]] = {}
    for sid, pid in rows:
        out.setdefault(int(pid), []).append(str(sid))
    return out


def _wait_running(fleet: Fleet, at_least: int, timeout: float = 60.0) -> dict[int, list[str]]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        held = _running_by_pid(fleet)
        if sum(map(len, held.values())) >= at_least:
            return held
        time.sleep(0.2)
    raise RuntimeError("the solves did not start")


def fault_kill9(fleet: Fleet, tally: Tally) -> dict[str, Any]:
    """kill -9 of the worker node holding the most running solves; recovery: until every
    solve it held runs elsewhere or has ended."""
    held = _wait_running(fleet, at_least=2)
    pids = {w.proc.pid: w for w in fleet.workers}               # type: ignore[union-attr]
    pid = max((p for p in held if p in pids), key=lambda p: len(held[p]))
    victim, lost = pids[pid], held[pid]
    time.sleep(0.5)                     # let the solvers get under way
    t0 = time.monotonic()
    victim.kill9()
    pending = set(lost)
    while pending and time.monotonic() - t0 < 120:
        rows = fleet.query("SELECT s.id, s.status, i.pid FROM solves s LEFT JOIN instances i "
                           "ON i.id = s.instance WHERE s.id = ANY(%s)", (list(pending),))
        for sid, status, owner in rows:
            if status in TERMINAL or (status == "running" and owner != pid):
                pending.discard(str(sid))
        time.sleep(0.1)
    return {"killed": victim.name, "its_running_solves": len(lost),
            "recovery_seconds": round(time.monotonic() - t0, 2),
            "not_recovered": len(pending)}


def fault_outage(fleet: Fleet, tally: Tally, pg: PgServer, seconds: float) -> dict[str, Any]:
    """PostgreSQL stopped for ``seconds``; recovery: from its start until both front ends
    are healthy and a worker has started a solve again."""
    _wait_running(fleet, at_least=1)
    t_stop = time.monotonic()
    pg.stop()
    time.sleep(seconds)
    pg.start()
    t0 = time.monotonic()
    healthy: dict[str, float] = {}
    claimed = None
    while time.monotonic() - t0 < 180 and (len(healthy) < len(fleet.serves) or claimed is None):
        for s in fleet.serves:
            if s.name not in healthy:
                try:
                    if httpx.get(s.base + "/healthz", timeout=2).status_code == 200:
                        healthy[s.name] = time.monotonic() - t0
                except httpx.HTTPError:
                    pass
        if claimed is None:
            try:
                if fleet.query("SELECT 1 FROM solves WHERE started_at > now() AT TIME ZONE "
                               "'UTC' - make_interval(secs => %s)",
                               (time.monotonic() - t0,)):
                    claimed = time.monotonic() - t0
            except Exception:
                pass
        time.sleep(0.2)
    return {"outage_seconds": round(t0 - t_stop, 1),
            "healthy_after_seconds": {k: round(v, 2) for k, v in healthy.items()},
            "first_claim_after_seconds": None if claimed is None else round(claimed, 2),
            "recovery_seconds": round(max([*healthy.values(), claimed or 999]), 2)}


def fault_rolling(fleet: Fleet, tally: Tally, only: tuple[str, ...] | None = None
                  ) -> dict[str, Any]:
    """SIGTERM to each instance in turn (or to those named in ``only``), each restarted
    (and ready) before the next."""
    _wait_running(fleet, at_least=1)
    steps = []
    for inst in fleet.serves + fleet.workers:
        if only is not None and inst.name not in only:
            continue
        stopped = inst.sigterm()
        inst.start()
        ready = fleet.wait_ready(inst)
        steps.append({"instance": inst.name, "stopped_in_seconds": round(stopped, 2),
                      "ready_in_seconds": round(ready, 2)})
    return {"steps": steps, "recovery_seconds": max(s["ready_in_seconds"] for s in steps)}


def stored_twice(fleet: Fleet) -> int:
    """Solves whose outcome two workers stored: from the workers' JSON logs (a worker
    logs "finished ID: STATUS" only when its result was stored), and plan rows."""
    by_solve: dict[str, set[str]] = {}
    for w in fleet.workers:
        if not w.log.exists():
            continue
        for line in w.log.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            msg, sid = rec.get("message", ""), rec.get("solve_id")
            if sid and " finished " in msg and "no longer ours" not in msg:
                by_solve.setdefault(sid, set()).add(msg.split(" finished ")[0])
    twice = {s for s, who in by_solve.items() if len(who) > 1}
    plans = fleet.query("SELECT solve_id FROM plans GROUP BY solve_id HAVING count(*) > 1")
    return len(twice | {str(r[0]) for r in plans})


def run(scenario: str, db_url: str, workdir: Path, *, clients: int = 20, tenants: int = 4,
        processes: int = 1, time_limit: float = 3.0, warmup: float = 4.0,
        after: float = 6.0, outage: float = 30.0, pg: PgServer | None = None,
        grace: float = 15.0, roll: tuple[str, ...] | None = None,
        env: dict[str, str] | None = None) -> dict[str, Any]:
    """One fault run on a fresh fleet over ``db_url``; its figures. ``roll``: the
    instances a rolling restart restarts (default: all, in turn); ``env``: settings of
    the instances (``BUNDLEOPT_LEASE_SECONDS``…)."""
    workdir.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(db_url, workdir, tenants=tenants, processes=processes, grace=grace,
                  env=env).start()
    tally = Tally()
    stop = threading.Event()
    bodies = [payload(seed, time_limit) for seed in range(4)]
    tokens = list(fleet.tokens.values())
    crowd = [Client(i, tokens[i % len(tokens)], fleet.bases, tally, bodies, stop)
             for i in range(clients)]
    try:
        for c in crowd:
            c.start()
        time.sleep(warmup)
        if scenario == "kill9":
            fault = fault_kill9(fleet, tally)
        elif scenario == "outage":
            assert pg is not None, "the outage run needs --pg-state"
            fault = fault_outage(fleet, tally, pg, outage)
        elif scenario == "rolling":
            fault = fault_rolling(fleet, tally, roll)
        else:
            raise ValueError(scenario)
        time.sleep(after)
        stop.set()
        for c in crowd:
            c.join(timeout=400)
        rows = fleet.query("SELECT id, status, crashes, attempts FROM solves")
        status = {str(i): (s, c, a) for i, s, c, a in rows}
        accepted = set(tally.accepted.values())
        ended = {s for s in accepted if status.get(s, ("missing",))[0] in TERMINAL}
        result = {
            "scenario": scenario, "clients": clients, "tenants": tenants,
            "requests": tally.requests, "requests_answered": tally.requests - tally.failed,
            "requests_failed": tally.failed, "answers": dict(sorted(tally.answers.items())),
            "http_500": tally.answers.get("500", 0),
            "slowest_answer_seconds": round(tally.slowest, 2),
            "solves_accepted": len(accepted), "solves_finished": len(ended),
            "solves_lost": len(accepted - ended),
            "solves_by_status": dict(Counter(status[s][0] for s in ended)),
            "solves_with_two_results": stored_twice(fleet),
            "solves_with_counted_crashes": sum(1 for s in accepted
                                               if status.get(s, ("", 0))[1]),
            "max_attempts": max((status[s][2] for s in ended), default=0),
            "duplicate_solves_for_one_key": len(tally.accepted) - len(accepted),
            "fault": fault,
        }
    finally:
        stop.set()
        fleet.stop()
        for c in crowd:
            c.http.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-state", default=os.environ.get("BUNDLEOPT_PG_STATE"),
                    help="state file of .ci/postgres.sh (default $BUNDLEOPT_PG_STATE)")
    ap.add_argument("--scenario", choices=("kill9", "outage", "rolling", "all"),
                    default="all")
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (issue: 100)")
    ap.add_argument("--tenants", type=int, default=4)
    ap.add_argument("--processes", type=int, default=1, help="worker processes per node")
    ap.add_argument("--time-limit", type=float, default=3.0, help="each solve's time limit")
    ap.add_argument("--outage", type=float, default=30.0, help="seconds PostgreSQL is down")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    if not args.pg_state:
        ap.error("--pg-state (or BUNDLEOPT_PG_STATE) is required")
    pg = PgServer.from_state(args.pg_state)
    runs = ("kill9", "outage", "rolling") if args.scenario == "all" else (args.scenario,)
    results = []
    for name in runs:
        with fresh_database(pg.url) as url:
            work = Path(f"/tmp/bench_failover-{name}-{uuid.uuid4().hex[:6]}")
            res = run(name, url, work, clients=args.clients, tenants=args.tenants,
                      processes=args.processes, time_limit=args.time_limit,
                      outage=args.outage, pg=pg)
            res["logs"] = str(work)
        print(json.dumps(res, indent=2), flush=True)
        results.append(res)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
