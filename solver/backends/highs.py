"""HiGHS (highspy): every scenario; the whole model passed as one sparse matrix."""
from __future__ import annotations

import atexit
import threading
import time

import highspy
import numpy as np

from formulations.linear import MatrixForm
from formulations.options import SolverOptions

from ..deadline import Deadline
from ..status import Status
from .base import (FEASIBLE, NO_SOLUTION, POLL_SECONDS, TIME_LIMIT, Capabilities, RawSolution,
                   SolveControl)
from .highs_run import HighsRun, model_arrays
from .highs_child import final_result, load, watch_mip
from .highs_child import quiet_highs as _quiet_highs


# Solves we stopped waiting for: HiGHS was asked to stop, but a thread still inside its
# presolve cannot be interrupted, and a C++ thread alive at interpreter exit aborts the
# process. Keep each Highs object alive and wait for its thread before exiting.
_abandoned: list = []
CANCEL_SECONDS = 0.5         # how long a cancelled solve may take to stop


@atexit.register
def _join_abandoned() -> None:
    for h, thread in _abandoned:
        h.cancelSolve()
        thread.join()


def load_model(h: highspy.Highs, form: MatrixForm, run: HighsRun,
               log: list[str]) -> tuple[list[str], np.ndarray]:
    """Load ``form`` with ``run``'s settings into ``h`` (see :func:`highs_child.load`)."""
    return load(h, model_arrays(form, run), log)


class HighsBackend:
    name = "highs"
    capabilities = Capabilities(choice_models=frozenset({"first_choice", "mnl"}))
    default_threads = None               # HiGHS decides

    def solve(self, form: MatrixForm, options: SolverOptions,
              control: SolveControl | None = None) -> RawSolution:
        from .highs_process import in_child_process, solve_in_child

        run = HighsRun.of(options, control or SolveControl())
        raw = solve_in_child(form, run) if in_child_process(form, run) else self._solve_here(form, run)
        raw.status = Status(raw.status)
        # a MIP stops short of optimal or infeasible only at its limit (or when cancelled)
        if run.seconds_left is not None and not raw.cancelled and raw.status in (FEASIBLE, NO_SOLUTION):
            raw.stopped_by = TIME_LIMIT
        return raw

    def _solve_here(self, form: MatrixForm, run: HighsRun) -> RawSolution:
        called = time.perf_counter()
        h = _quiet_highs()
        log: list[str] = []
        notes, integrality = load_model(h, form, run, log)
        best: dict = {"x": None, "obj": None, "bound": None}
        lock = threading.Lock()
        start = time.perf_counter()

        def improving(obj, bound, x):
            with lock:
                best["x"], best["obj"] = x, obj
            mip_log(bound)

        def mip_log(bound):
            with lock:
                best["bound"] = bound or best["bound"]
            if run.progress:
                run.progress(time.perf_counter() - start, best["obj"], best["bound"])

        watch_mip(h, improving, mip_log)
        h.HandleUserInterrupt = True

        thread = h.startSolve()
        abandoned, cancelled = _wait(h, run)
        seconds = time.perf_counter() - start

        if abandoned:
            _abandoned.append((h, thread))
            with lock:
                x, obj, bound = best["x"], best["obj"], best["bound"]
            return RawSolution(FEASIBLE if x is not None else NO_SOLUTION, x, obj, bound, seconds,
                               "".join(log), cancelled,
                               notes + ["HiGHS overran its time limit; returned the best plan found by then"],
                               handoff_seconds=start - called)

        status, x, obj, bound = final_result(h, integrality)
        return RawSolution(status, x, obj, bound, seconds, "".join(log), cancelled, notes,
                           handoff_seconds=start - called)


def _wait(h: highspy.Highs, run: HighsRun) -> tuple[bool, bool]:
    """Wait for a started solve to finish: ``(abandoned, cancelled)``. A cancel asks HiGHS
    to stop and waits ``CANCEL_SECONDS`` more; past the deadline and its grace, the solve is
    asked to stop and abandoned (its thread may still be in presolve)."""
    give_up = run.give_up(extra=POLL_SECONDS)
    cancelled = False
    while True:
        finished, _ = h.wait(POLL_SECONDS)
        if finished:
            return False, cancelled
        if run.cancel is not None and run.cancel.is_set() and not cancelled:
            cancelled = True
            h.cancelSolve()
            if not give_up.limited or give_up.remaining() > CANCEL_SECONDS:
                give_up = Deadline(CANCEL_SECONDS)
        if give_up.expired():
            h.cancelSolve()
            return True, cancelled
