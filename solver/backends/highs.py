"""HiGHS (highspy): every scenario; the whole model passed as one sparse matrix."""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time

import highspy
import numpy as np

from formulations.linear import MatrixForm

from .base import (FEASIBLE, INFEASIBLE, NO_SOLUTION, OPTIMAL, Capabilities, RawSolution,
                   SolveOptions)

# HiGHS's own time limit is not checked inside presolve, so it can overrun; past the
# limit plus this grace we stop waiting and return the best plan seen so far.
GRACE = 0.03
# Above this ratio of largest to smallest matrix coefficient (MNL attractions e^{β(w−p)}
# get there), HiGHS's presolve was seen to cut off the true optimum (tests/
# test_bruteforce.py found it); without presolve the same models solve exactly.
PRESOLVE_MAX_RANGE = 1e8


def _quiet_highs() -> highspy.Highs:
    """A Highs instance, without the banner it prints to stdout when created."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


# Solves we stopped waiting for: HiGHS was asked to stop, but a thread still inside its
# presolve cannot be interrupted, and a C++ thread alive at interpreter exit aborts the
# process. Keep each Highs object alive and wait for its thread before exiting.
_abandoned: list = []


@atexit.register
def _join_abandoned() -> None:
    for h, thread in _abandoned:
        h.cancelSolve()
        thread.join()


def load_model(h: highspy.Highs, form: MatrixForm, options: SolveOptions,
               log: list[str]) -> tuple[list[str], np.ndarray]:
    """Options, the model (one sparse matrix) and the MIP start into ``h``; the log
    goes to ``log``. Returns notes for the summary and the integrality vector."""
    h.setOptionValue("output_flag", False)
    h.cbLogging.subscribe(lambda e: log.append(e.message))
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("output_flag", True)
    if options.time_limit is not None:
        # a little under the limit, so HiGHS normally stops itself with a final bound
        h.setOptionValue("time_limit", float(options.time_limit) * 0.95)
    if options.mip_gap is not None:
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    h.setOptionValue("mip_feasibility_tolerance", 1e-7)
    h.setOptionValue("primal_feasibility_tolerance", 1e-8)

    A = form.A.tocsc()
    notes: list[str] = []
    mags = np.abs(A.data[A.data != 0])
    if not form.presolve_safe:
        h.setOptionValue("presolve", "off")
    elif len(mags) and mags.max() / mags.min() > PRESOLVE_MAX_RANGE:
        h.setOptionValue("presolve", "off")
        notes.append(f"coefficients span {mags.max() / mags.min():.1e}: HiGHS presolve switched off "
                     "for numerical safety")
    n_col, n_row = A.shape[1], A.shape[0]
    integrality = form.integer.astype(np.int32)
    # the numpy overload of passModel: one copy of each array, ~8x faster than
    # filling a HighsLp attribute by attribute (benchmarks/build_paths.md)
    h.passModel(n_col, n_row, A.nnz, int(highspy.MatrixFormat.kColwise),
                int(highspy.ObjSense.kMaximize if form.sense == "max" else highspy.ObjSense.kMinimize),
                0.0, np.ascontiguousarray(form.cost, dtype=float),
                np.ascontiguousarray(form.lb, dtype=float), np.ascontiguousarray(form.ub, dtype=float),
                np.where(np.isfinite(form.lo), form.lo, -highspy.kHighsInf),
                np.where(np.isfinite(form.hi), form.hi, highspy.kHighsInf),
                A.indptr.astype(np.int32), A.indices.astype(np.int32),
                np.ascontiguousarray(A.data, dtype=float), integrality)

    start = options.start
    if start is not None:
        # a MIP start: the values given (integer choices of a heuristic plan); HiGHS
        # fixes them and completes the rest, and keeps it only if it is feasible
        given = np.flatnonzero(~np.isnan(start))
        h.setSolution(len(given), given.astype(np.int32), np.ascontiguousarray(start[given], dtype=float))
    return notes, integrality


class HighsBackend:
    name = "highs"
    capabilities = Capabilities(choice_models=frozenset({"first_choice", "mnl"}))

    def solve(self, form: MatrixForm, options: SolveOptions) -> RawSolution:
        from .highs_process import in_child_process, solve_in_child
        if in_child_process(form, options):
            return solve_in_child(form, options)
        h = _quiet_highs()
        log: list[str] = []
        notes, integrality = load_model(h, form, options, log)
        best: dict = {"x": None, "obj": None, "bound": None}
        lock = threading.Lock()
        start = time.perf_counter()

        def finite(v):
            return float(v) if v is not None and np.isfinite(v) else None

        def improving(e):
            with lock:
                best["x"] = np.array(e.data_out.mip_solution, dtype=float)
                best["obj"] = finite(e.data_out.objective_function_value)
                best["bound"] = finite(e.data_out.mip_dual_bound) or best["bound"]
            if options.progress:
                options.progress(time.perf_counter() - start, best["obj"], best["bound"])

        def mip_log(e):
            with lock:
                best["bound"] = finite(e.data_out.mip_dual_bound) or best["bound"]
            if options.progress:
                options.progress(time.perf_counter() - start, best["obj"], best["bound"])

        h.cbMipImprovingSolution.subscribe(improving)
        h.cbMipLogging.subscribe(mip_log)
        h.HandleUserInterrupt = True

        thread = h.startSolve()
        deadline = None if options.time_limit is None else start + options.time_limit * (1 + GRACE) + 0.05
        finished, abandoned, cancelled = False, False, False
        while not finished:
            finished, _ = h.wait(0.05)
            if finished:
                break
            now = time.perf_counter()
            if options.cancel is not None and options.cancel.is_set() and not cancelled:
                cancelled = True
                h.cancelSolve()
                deadline = min(deadline or np.inf, now + 0.5)
            if deadline is not None and now > deadline:
                h.cancelSolve()
                abandoned = True     # the thread may still be in presolve; do not wait for it
                break
        seconds = time.perf_counter() - start

        if abandoned:
            _abandoned.append((h, thread))
            with lock:
                x, obj, bound = best["x"], best["obj"], best["bound"]
            return RawSolution(FEASIBLE if x is not None else NO_SOLUTION, x, obj, bound, seconds,
                               "".join(log), cancelled,
                               notes + ["HiGHS overran its time limit; returned the best plan found by then"])

        status, x, obj, bound = final_result(h, integrality)
        return RawSolution(status, x, obj, bound, seconds, "".join(log), cancelled, notes)


def final_result(h: highspy.Highs, integrality: np.ndarray):
    """Status, solution, objective and proven bound of a finished HiGHS run."""
    ms = h.getModelStatus()
    info = h.getInfo()
    has_sol = info.primal_solution_status == 2
    x = np.array(h.getSolution().col_value, dtype=float) if has_sol else None
    obj = info.objective_function_value if has_sol else None
    bound = info.mip_dual_bound if integrality.any() else obj
    if bound is not None and not np.isfinite(bound):
        bound = None
    MS = highspy.HighsModelStatus
    if ms == MS.kOptimal:
        status = OPTIMAL
    elif ms in (MS.kInfeasible,):
        status = INFEASIBLE
    elif ms == MS.kUnboundedOrInfeasible and not has_sol:
        status = INFEASIBLE
    else:
        status = FEASIBLE if has_sol else NO_SOLUTION
    return status, x, obj, bound
