"""Worker processes: take solves from the queue, run them, record the outcome.

Each worker is a separate process (multiprocessing ``spawn``: no state inherited from
the web server). While a solve runs, a heartbeat thread renews the lease, writes the
latest progress (incumbent, bound, wall-clock elapsed) and watches for a cancellation
request, the solve's time limit and service shutdown; all three stop the solver
through the ``cancel`` event that :func:`solver.api.solve` polls.

A worker cannot be poisoned: a solve that leaves a thread behind (a native solver
stuck in presolve after its time limit or a cancel) ends its worker process once the
outcome is recorded, and ``serve`` starts a fresh one. A cancel the solver does not
honour within a second is enforced by ``serve`` killing the worker (:class:`WorkerPool`).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from formulations.errors import BundleoptError
from solver.machine import package_versions

from . import queue
from .db import make_engine, session_factory
from .models import ScenarioRow, Solve

log = logging.getLogger("bundleopt.worker")
#: Exit status of a worker that replaced itself because a solve left a thread behind.
POISONED_EXIT = 4
#: A running solve asked to stop is killed with its worker when still running this long
#: after the request (the worker sees the request within a heartbeat, ~1 s).
CANCEL_GRACE_SECONDS = 1.5
#: Workers run this much nicer than the web server: a solve may keep every core busy
#: for minutes, and the HTTP front end (``/healthz`` above all) must still answer at once.
WORKER_NICENESS = 10
#: How long a worker that lost the database tries to hand its stopped solve back.
HAND_BACK_SECONDS = 60.0

@dataclass(frozen=True)
class WorkerSettings:
    """What a worker process needs; plain values so it pickles for ``spawn``."""

    db_url: str
    lease_seconds: float = 15.0
    heartbeat_seconds: float = 1.0
    poll_seconds: float = 0.25
    parent_pid: int | None = None
    #: After SIGTERM/SIGINT a running solve may go on this long to finish; then it is
    #: stopped and handed back to the queue (0: handed back at once).
    grace_seconds: float = 0.0
    log_format: str = "text"
    #: The instance (``serve`` or ``worker`` node) these processes belong to
    #: (:mod:`.instances`); stored with each claimed solve.
    instance: str | None = None


def hard_deadline(time_limit: float) -> float:
    """Seconds after which a solve that ignores its time limit is abandoned."""
    return 1.5 * time_limit + 30.0


@dataclass
class Executed:
    """What :func:`execute` did: the stored status (``None``: nothing recorded — handed
    back at shutdown, or the solve is no longer ours), the solver's result when there is
    one, and the threads the solve left running (non-empty: this process is poisoned)."""

    status: str | None
    result: Any = None
    leftover: list[str] = field(default_factory=list)


def _leftover_threads(before: set[threading.Thread], grace: float = 0.5) -> list[str]:
    """Threads started since ``before`` that are still alive after ``grace`` seconds."""
    end = time.monotonic() + grace
    left = []
    for t in threading.enumerate():
        if t in before or t is threading.current_thread():
            continue
        t.join(timeout=max(0.0, end - time.monotonic()))
        if t.is_alive():
            left.append(t.name)
    return left


@dataclass
class _Watch:
    """What the heartbeat thread learns while a solve runs, and the events it sets.

    ``cancel`` stops the solver (:func:`solver.api.solve` polls it); ``done`` ends the
    heartbeat. ``deadline`` is :func:`hard_deadline` of the time limit (``None``: none).
    """

    engine: Engine
    solve_id: str
    worker: str
    lease_seconds: float
    shutdown: threading.Event
    deadline: float | None
    started: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] | None = None
    cancelled: bool = False     # the client asked for it
    lost: bool = False          # the solve is no longer this worker's
    unrenewed: bool = False     # ... because the lease could not be renewed in time
    timed_out: bool = False     # past the hard deadline
    renewed: float = field(default_factory=time.monotonic)   # the last renewal

    def on_progress(self, p: Any) -> None:
        self.progress = {"elapsed": p.elapsed, "objective": p.objective, "bound": p.bound}

    def beat(self, heartbeat_seconds: float) -> None:
        """The heartbeat thread: renew the lease and store progress until ``done``."""
        while not self.done.wait(heartbeat_seconds):
            try:
                self._beat_once()
            except Exception as err:  # a DB hiccup must not kill the solve: the lease has slack
                log.warning("heartbeat of %s failed (%s)", self.solve_id,
                            type(err).__name__, extra={"solve_id": self.solve_id})
                if time.monotonic() - self.renewed > self.give_up_after(heartbeat_seconds):
                    # The lease is about to lapse and another worker may take the solve:
                    # stop solving, so that never two workers hold it. Its result could
                    # not be stored anyway (queue.finish needs the lease).
                    if not self.lost:
                        log.warning("solve %s: lease not renewed for %.0f s; stopping it",
                                    self.solve_id, time.monotonic() - self.renewed,
                                    extra={"solve_id": self.solve_id})
                    self.lost = self.unrenewed = True
                    self.cancel.set()

    def give_up_after(self, heartbeat_seconds: float) -> float:
        """Seconds without a renewal after which the solve is stopped: its lease less
        two heartbeats, so it stops before anyone can re-queue it."""
        return max(heartbeat_seconds, self.lease_seconds - 2 * heartbeat_seconds)

    def _beat_once(self) -> None:
        elapsed = time.monotonic() - self.started
        # Wall-clock elapsed, so it advances between the solver's own reports.
        progress = {"objective": None, "bound": None, **(self.progress or {}),
                    "elapsed": round(elapsed, 3)}
        wanted = queue.heartbeat(self.engine, self.solve_id, self.worker,
                                 self.lease_seconds, progress)
        self.renewed = time.monotonic()
        if wanted is None:
            self.lost = True
        elif wanted:
            self.cancelled = True
        if self.deadline is not None and elapsed > self.deadline:
            self.timed_out = True
        if self.lost or self.cancelled or self.timed_out or self.shutdown.is_set():
            self.cancel.set()
        if self.deadline is not None and elapsed > self.deadline + 60:
            # The backend ignores the cancel event: record that and get out, the
            # supervisor starts a fresh worker.
            queue.finish(self.engine, self.solve_id, self.worker, status="failed", fields={
                "error": "the solver did not stop at its time limit"}, plan_rows=None)
            os._exit(3)


def execute(engine: Engine, solve_id: str, worker: str, payload: dict[str, Any] | None,
            options: dict[str, Any], *, lease_seconds: float, heartbeat_seconds: float,
            shutdown: threading.Event | None = None, scenario: Any = None,
            started: float | None = None) -> Executed:
    """Run one claimed solve and record its outcome.

    The scenario is ``scenario`` when given (a ``Scenario`` object, no JSON round trip),
    else parsed from ``payload``. The time limit counts from ``started`` (a
    ``time.monotonic()`` value; default: when the solve starts), as ``solver.solve``'s.
    """
    before = set(threading.enumerate())
    time_limit = options.get("time_limit")
    watch = _Watch(engine, solve_id, worker, lease_seconds, shutdown or threading.Event(),
                   hard_deadline(float(time_limit)) if time_limit else None)
    thread = threading.Thread(target=watch.beat, args=(heartbeat_seconds,),
                              name=f"heartbeat-{solve_id[:8]}", daemon=True)
    thread.start()
    try:
        try:
            result = _solve(payload, scenario, options, watch, started)
        except BundleoptError as err:
            fields: dict[str, Any] = {"error": str(err)}
            return _failed(watch, fields, _leftover_threads(before | {thread}))
        except Exception as err:  # our bug, not the user's: keep the traceback
            fields = {"error": f"internal error: {type(err).__name__}: {err}",
                      "log": traceback.format_exc()}
            return _failed(watch, fields, _leftover_threads(before | {thread}))
    finally:
        watch.done.set()
        thread.join(timeout=5)
    leftover = _leftover_threads(before | {thread})
    if watch.unrenewed:
        hand_back(engine, solve_id, worker, watch.shutdown, lease_seconds)
    if watch.lost:
        return Executed(None, result, leftover)
    if watch.shutdown.is_set() and watch.cancel.is_set() and not watch.cancelled:
        queue.release(engine, solve_id, worker)     # handed back: it runs again later
        return Executed(None, result, leftover)
    status, fields, rows = _outcome(result, watch, leftover)
    return Executed(_finish(engine, solve_id, worker, status, fields, rows), result, leftover)


def hand_back(engine: Engine, solve_id: str, worker: str, shutdown: threading.Event,
              lease_seconds: float) -> None:
    """Give back a solve stopped for want of a lease, once the database answers again,
    unless it was re-queued meanwhile: a database outage costs the solve no attempt.
    Tries for :data:`HAND_BACK_SECONDS` at most (then ``requeue_stale`` of any instance
    does it, once the lease has lapsed)."""
    end = time.monotonic() + max(HAND_BACK_SECONDS, lease_seconds)
    while time.monotonic() < end:
        try:
            queue.release(engine, solve_id, worker)
            return
        except Exception:
            if shutdown.wait(1.0):
                return


def _solve(payload: dict[str, Any] | None, scenario: Any, options: dict[str, Any],
           watch: _Watch, started: float | None) -> Any:
    from formulations.loading import scenario_from_tables
    from solver.api import solve

    if scenario is None:
        scenario = scenario_from_tables(payload)
    return solve(scenario, backend=options.get("backend"),
                 time_limit=options.get("time_limit"), mip_gap=options.get("mip_gap"),
                 threads=options.get("threads"), progress=watch.on_progress,
                 cancel=watch.cancel, started=started)


def _failed(watch: _Watch, fields: dict[str, Any], leftover: list[str]) -> Executed:
    return Executed(_finish(watch.engine, watch.solve_id, watch.worker, "failed", fields,
                            None), None, leftover)


def _outcome(result: Any, watch: _Watch, leftover: list[str]
             ) -> tuple[str, dict[str, Any], list[dict[str, Any]] | None]:
    """The status, stored fields and plan rows of a solve that ran to its end."""
    summary = dict(result.summary)
    summary.setdefault("status", result.status)
    fields: dict[str, Any] = {
        "objective": result.objective, "bound": result.bound, "gap": result.gap,
        "backend": result.backend, "build_seconds": result.build_seconds,
        "solve_seconds": result.solve_seconds, "log": result.log,
        "versions": package_versions(), "progress": watch.progress, "summary": summary}
    status = result.status
    if watch.cancelled:
        status = "cancelled"
        summary["solver_status"] = result.status
    elif watch.timed_out:
        summary["stopped"] = "hard time limit"
    if leftover:
        summary.setdefault("notes", []).append(
            "the solver left a thread running: the process that ran this solve ended, so "
            "that no other solve shares it (serve replaces its worker)")
    rows = None
    if status in ("optimal", "feasible") and result.has_plan:
        rows = result.plan.to_dict(orient="records")
    return status, fields, rows


def _finish(engine: Engine, solve_id: str, worker: str, status: str, fields: dict[str, Any],
            rows: list[dict[str, Any]] | None) -> str | None:
    """Store the outcome while this worker holds the solve; a database that is away is
    waited for (up to :data:`HAND_BACK_SECONDS`), so a solve that ended during an outage
    keeps its result unless it was re-queued meanwhile."""
    from sqlalchemy.exc import DBAPIError

    end, waited = time.monotonic() + HAND_BACK_SECONDS, False
    while True:
        try:
            stored = queue.finish(engine, solve_id, worker, status=status, fields=fields,
                                  plan_rows=rows)
            return status if stored else None
        except DBAPIError:
            if time.monotonic() > end:
                raise
            if not waited:
                log.warning("solve %s: the database is away; retrying to store its "
                            "outcome", solve_id, extra={"solve_id": solve_id})
            waited = True
            time.sleep(1.0)


def run_claimed(engine: Engine, solve_id: str, worker: str, settings: WorkerSettings,
                shutdown: threading.Event) -> Executed | None:
    """Load a claimed solve's scenario and options and execute it."""
    with session_factory(engine)() as session:
        solve = session.get(Solve, solve_id)
        if solve is None:
            return None
        payload = session.get(ScenarioRow, solve.scenario_hash).payload
        options = dict(solve.options)
    return execute(engine, solve_id, worker, payload, options,
                   lease_seconds=settings.lease_seconds,
                   heartbeat_seconds=settings.heartbeat_seconds, shutdown=shutdown)


def worker_main(settings: WorkerSettings) -> None:
    """Entry point of a worker process: claim and run solves until told to stop.

    SIGTERM/SIGINT stop the claiming at once; the solve under way may finish within
    ``settings.grace_seconds``, after which it is stopped and handed back to the queue.
    If the parent dies (``kill -9``), the worker finishes the solve it holds and exits.
    """
    from .logs import Failing, setup_logging

    setup_logging(settings.log_format, text_format="%(asctime)s worker %(message)s")
    os.nice(WORKER_NICENESS)
    draining, shutdown = threading.Event(), threading.Event()

    def stop(_sig: int, _frame: Any) -> None:
        if draining.is_set():
            return
        draining.set()
        # A Timer, not a wait here: the handler runs in the main thread, which is the
        # one running the solve.
        timer = threading.Timer(settings.grace_seconds, shutdown.set)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    engine = make_engine(settings.db_url)
    worker = queue.worker_name("worker")
    claims = Failing(log, "claim")
    while not draining.is_set():
        if settings.parent_pid is not None and os.getppid() != settings.parent_pid:
            break  # orphaned: the service is gone; a restarted one has its own workers
        try:
            solve_id = queue.claim(engine, worker, settings.lease_seconds,
                                   settings.instance)
            claims.ok()
        except Exception as err:
            claims.failed(err)
            draining.wait(1.0)
            continue
        if solve_id is None:
            draining.wait(settings.poll_seconds)
            continue
        done = _run_one(engine, solve_id, worker, settings, shutdown)
        if done is not None and done.leftover:
            # A solver thread is still running in this process: the next solve here
            # would share it (HiGHS: "already running"). Exit at once — without joining
            # it — and let the pool start a clean worker.
            log.warning("%s: solve %s left threads running (%s); replacing this worker",
                        worker, solve_id, ", ".join(done.leftover),
                        extra={"solve_id": solve_id})
            engine.dispose()
            logging.shutdown()
            os._exit(POISONED_EXIT)
    engine.dispose()


def _run_one(engine: Engine, solve_id: str, worker: str, settings: WorkerSettings,
             shutdown: threading.Event) -> Executed | None:
    """Run one claimed solve, logging its start and end with its id and tenant."""
    try:
        tenant = queue.tenant_of(engine, solve_id)
    except Exception:   # only for the logs: a database hiccup must not cost the solve
        tenant = None
    extra = {"solve_id": solve_id, "tenant": tenant}
    log.info("%s runs %s", worker, solve_id, extra=extra)
    try:
        done = run_claimed(engine, solve_id, worker, settings, shutdown)
    except Exception:
        log.exception("solve %s: could not record the outcome", solve_id, extra=extra)
        return None
    status = done.status if done is not None else None
    log.info("%s finished %s: %s", worker, solve_id,
             status or "handed back / no longer ours", extra=extra)
    return done


class WorkerPool:
    """N worker processes, restarted when one dies; owned by ``bundleopt serve`` or
    ``bundleopt worker``."""

    def __init__(self, settings: WorkerSettings, n: int) -> None:
        self.settings = settings
        self.n = n
        self.ctx = mp.get_context("spawn")
        self.procs: list[Any] = []

    def start(self) -> None:
        for _ in range(self.n):
            self.procs.append(self._spawn())

    def _spawn(self) -> Any:
        p = self.ctx.Process(target=worker_main, args=(self.settings,), daemon=False,
                             name="bundleopt-worker")
        p.start()
        return p

    def check(self) -> int:
        """Replace dead workers (their solves are re-queued by the caller); count replaced."""
        replaced = 0
        for i, p in enumerate(self.procs):
            if not p.is_alive():
                p.join(timeout=0)
                how = ("it was poisoned by a solve's leftover thread"
                       if p.exitcode == POISONED_EXIT else f"exit status {p.exitcode}")
                log.warning("worker pid %s exited (%s); starting another", p.pid, how)
                self.procs[i] = self._spawn()
                replaced += 1
        return replaced

    def enforce_cancels(self, engine: Engine) -> int:
        """Kill the workers of solves still running a grace period after their cancel.

        The solve is recorded ``cancelled`` first (so the kill is not a crash and costs
        no attempt), then its worker gets SIGKILL and is replaced by :meth:`check`.
        """
        mine = {p.pid: p for p in self.procs if p.is_alive()}
        killed = 0
        for solve_id, worker in queue.overdue_cancels(engine, CANCEL_GRACE_SECONDS):
            pid = queue.local_pid(worker)
            if pid not in mine:
                continue   # another instance's worker: that instance enforces it
            if not queue.finish(engine, solve_id, worker, status="cancelled", fields={
                    "summary": {"status": "cancelled", "stopped": "the solver did not stop "
                                "within a second of the cancel request; its worker was "
                                "killed"}}, plan_rows=None):
                continue   # it stopped (and recorded it) just now: nothing to kill
            mine[pid].kill()
            mine[pid].join(timeout=5)
            log.warning("solve %s: cancelled by killing worker pid %s", solve_id, pid,
                        extra={"solve_id": solve_id})
            killed += 1
        return killed

    def stop(self, margin: float = 20.0) -> None:
        """Stop every worker: each stops claiming at once, may finish its solve within
        the grace period, then hands it back; one still alive ``margin`` s after the
        grace (a solver that ignores the stop) is killed, and its lease lapses."""
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        end = time.monotonic() + self.settings.grace_seconds + margin
        for p in self.procs:
            p.join(timeout=max(0.1, end - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=2)
