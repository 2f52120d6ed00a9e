"""Where a study's solves run: this process, a local process pool, or a Ray cluster.

Every executor does one thing: ``run(fn, base, jobs)`` calls ``fn(base, job)`` for each
job and yields ``(index, result)`` as results arrive (any order). The base scenario is
shipped to each worker once (pool initializer / ``ray.put``), jobs are small.
``fn`` must be a module-level function so that it can be sent to another process.
"""
from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence

from formulations.errors import ParameterError, option_error

from solver.machine import machine_cores

EXECUTORS = ("local", "ray")
_BASE: Any = None          # the base scenario, in a pool worker


def default_workers() -> int:
    """Cores this process may use."""
    return machine_cores()


def clamp_workers(workers: int | None) -> tuple[int | None, str | None]:
    """``workers`` capped at this machine's cores, and a note saying so when it was: a
    worker is a process solving single-threaded, so more than the cores only adds
    processes (``--workers 10000`` forked one per chain of variants)."""
    cores = default_workers()
    if workers is None or workers <= cores:
        return workers, None
    return cores, f"--workers {workers} is more than this machine's {cores} cores; using {cores}"


class LocalExecutor:
    """A local process pool (``workers`` processes; 1 = run in this process)."""

    note: str | None = None         # what make_executor changed (workers capped), to tell the user

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def run(self, fn: Callable[[Any, Any], Any], base: Any,
            jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        # capped here too, for an executor made directly rather than by make_executor
        workers = min(clamp_workers(self.workers)[0] or default_workers(), max(1, len(jobs)))
        if workers == 1:
            for i, job in enumerate(jobs):
                yield i, fn(base, job)
            return
        # forkserver, not fork: this process may hold threads (HiGHS's scheduler, Ray's
        # driver, a service's probe), and a child forked from them died in pandas with a
        # segfault (test_local_pool_and_ray_give_identical_rows). The server starts clean,
        # imports the solve path once, and forks each worker from there.
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(),
                                 initializer=_set_base, initargs=(base,)) as pool:
            futures = {pool.submit(_call, fn, job): i for i, job in enumerate(jobs)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield futures[f], f.result()


def _pool_context() -> Any:
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["solver.api", "bundleopt.study.sweep"])
    return ctx


def _set_base(base: Any) -> None:
    global _BASE
    _BASE = base


def _call(fn: Callable[[Any, Any], Any], job: Any) -> Any:
    return fn(_BASE, job)


class RayExecutor:
    """Ray: joins the cluster at ``address``, or starts a short-lived local one.

    A local cluster gets ``workers`` CPUs (default: this machine's cores), no dashboard,
    and is shut down when the run ends — or, used as a context manager, when the
    ``with`` block ends, so that several runs share one cluster. If this process is
    already connected to Ray (a notebook, a test session), that connection is used and
    left open.
    """

    note: str | None = None

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address, self.workers = address, workers
        self._started = False

    def __enter__(self) -> "RayExecutor":
        self._started = self._connect()
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            _import_ray().shutdown()
            self._started = False

    def _connect(self) -> bool:
        """Connect unless connected already; True if this call made the connection."""
        ray = _import_ray()
        if ray.is_initialized():
            return False
        if self.address:
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=clamp_workers(self.workers)[0] or default_workers(), include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING)
        return True

    def run(self, fn: Callable[[Any, Any], Any], base: Any,
            jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = _import_ray()
        started = self._connect()
        try:
            base_ref = ray.put(base)
            task = ray.remote(num_cpus=1, max_retries=0)(fn)
            refs = {task.remote(base_ref, job): i for i, job in enumerate(jobs)}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in done:
                    yield refs[r], ray.get(r)
        finally:
            if started:
                ray.shutdown()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ParameterError("--executor ray needs Ray: pip install 'bundleopt[ray]'") from None
    return ray


Executor = LocalExecutor | RayExecutor


def make_executor(executor: "str | Executor" = "local", *, workers: int | None = None,
                  address: str | None = None) -> "Executor":
    """An executor by name (``local`` or ``ray``); an executor object is returned as is."""
    if isinstance(executor, (LocalExecutor, RayExecutor)):
        return executor
    if executor not in EXECUTORS:
        raise option_error("executor", f"one of {', '.join(EXECUTORS)}", executor)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise option_error("workers", "an int ≥ 1", workers, flag="--workers")
    if address and executor != "ray":
        raise ParameterError("The 'address' option needs the ray executor (--executor ray).")
    note = None
    if not address:                      # a cluster at --address has cores of its own
        workers, note = clamp_workers(workers)
    if executor == "ray":
        _import_ray()
        ex: Executor = RayExecutor(address, workers)
    else:
        ex = LocalExecutor(workers)
    ex.note = note
    return ex
