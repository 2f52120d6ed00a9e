"""HiGHS on plain arrays: loading a model, reading its result, and the child process.

Imports only numpy and highspy, so that ``python solver/backends/highs_child.py`` —
the child process of :mod:`solver.backends.highs_process` — starts in a fraction of the
time a process importing pandas and the formulations would. The in-process path of
:mod:`solver.backends.highs` loads models through the same :func:`load` and reads
results through the same :func:`final_result`.

A *model* here is a dict of arrays: ``sense`` ("max"/"min"), ``cost``, ``lb``, ``ub``,
``lo``, ``hi``, the CSC matrix as ``indptr``/``indices``/``data`` with ``shape``,
``integer``, ``presolve``; and the settings ``seconds_left`` (on the solver's deadline
when HiGHS was called; ``None``: no limit), ``mip_gap``, ``threads``, ``start`` (a MIP
start: value per column, NaN where not given).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable

import highspy
import numpy as np

# Above this ratio of largest to smallest matrix coefficient (MNL attractions e^{β(w−p)}
# get there), HiGHS's presolve was seen to cut off the true optimum (tests/
# test_bruteforce.py found it); without presolve the same models solve exactly.
PRESOLVE_MAX_RANGE = 1e8
BOUND_EVERY = 0.25           # seconds between bound-only progress messages
# HiGHS's own time limit is the seconds left less this share of them, at most
# HIGHS_MARGIN_CAP seconds, so that it normally stops itself, with a final bound, before
# the engine stops waiting for it (a share alone kept 29 s of a 600 s solve from HiGHS)
HIGHS_MARGIN = 0.05
HIGHS_MARGIN_CAP = 1.0


def solver_share(seconds_left: float) -> float:
    """HiGHS's own time limit for a run with ``seconds_left``."""
    seconds_left = float(seconds_left)
    return seconds_left - min(HIGHS_MARGIN * seconds_left, HIGHS_MARGIN_CAP)


def quiet_highs() -> highspy.Highs:
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


def load(h: highspy.Highs, m: dict, log: list[str]) -> tuple[list[str], np.ndarray]:
    """Options, the model (one sparse matrix) and the MIP start into ``h``; the log
    goes to ``log``. Returns notes for the summary and the integrality vector."""
    h.setOptionValue("output_flag", False)
    h.cbLogging.subscribe(lambda e: log.append(e.message))
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("output_flag", True)
    if m["seconds_left"] is not None:
        h.setOptionValue("time_limit", solver_share(m["seconds_left"]))
    if m["mip_gap"] is not None:
        h.setOptionValue("mip_rel_gap", float(m["mip_gap"]))
    if m["threads"] is not None:
        h.setOptionValue("threads", int(m["threads"]))
    h.setOptionValue("mip_feasibility_tolerance", 1e-7)
    h.setOptionValue("primal_feasibility_tolerance", 1e-8)

    data = m["data"]
    notes: list[str] = []
    mags = np.abs(data[data != 0])
    if not m["presolve"]:
        h.setOptionValue("presolve", "off")
    elif len(mags) and mags.max() / mags.min() > PRESOLVE_MAX_RANGE:
        h.setOptionValue("presolve", "off")
        notes.append(f"coefficients span {mags.max() / mags.min():.1e}: HiGHS presolve switched off "
                     "for numerical safety")
    integrality = np.asarray(m["integer"]).astype(np.int32)
    _pass_model(h, m, m["lb"], m["ub"], integrality)
    start = m["start"]
    if start is not None:
        # a MIP start: the values given (the integer choices of the heuristic's plan),
        # completed here (see complete_start) and handed over whole
        began = time.perf_counter()
        full = complete_start(m, start, presolve=h.getOptionValue("presolve") != "off")
        if full is not None:
            h.setSolution(len(full), np.arange(len(full), dtype=np.int32), full)
        if m["seconds_left"] is not None:
            h.setOptionValue("time_limit", max(0.01, solver_share(m["seconds_left"])
                                               - (time.perf_counter() - began)))
    return notes, integrality


START_NODES = 500            # HiGHS's own mip_max_start_nodes


def _pass_model(h: highspy.Highs, m: dict, lb, ub, integrality: np.ndarray) -> None:
    """Model ``m`` with these column bounds and integrality into ``h``: the numpy overload
    of passModel, one copy of each array, ~8x faster than filling a HighsLp attribute by
    attribute (benchmarks/build_paths.md)."""
    n_row, n_col = m["shape"]
    h.passModel(n_col, n_row, len(m["data"]), int(highspy.MatrixFormat.kColwise),
                int(highspy.ObjSense.kMaximize if m["sense"] == "max" else highspy.ObjSense.kMinimize),
                0.0, np.ascontiguousarray(m["cost"], dtype=float),
                np.ascontiguousarray(lb, dtype=float), np.ascontiguousarray(ub, dtype=float),
                np.where(np.isfinite(m["lo"]), m["lo"], -highspy.kHighsInf),
                np.where(np.isfinite(m["hi"]), m["hi"], highspy.kHighsInf),
                np.asarray(m["indptr"]).astype(np.int32), np.asarray(m["indices"]).astype(np.int32),
                np.ascontiguousarray(m["data"], dtype=float), integrality)


def complete_start(m: dict, start: np.ndarray, presolve: bool) -> np.ndarray | None:
    """The MIP start completed to a whole solution: the model with the given values
    fixed, solved by a HiGHS of its own (at most ``START_NODES`` nodes, no callbacks);
    ``None`` if that finds nothing.

    HiGHS completes a partial start itself the same way, but it runs that restricted MIP
    with the caller's callbacks, whose bounds are then the restricted model's: a season
    40/150/10 × 8 reported the start's own value as its "dual bound" before the real
    search began (whose root bound was 3.2 M against 3.09 M). Given a whole solution,
    HiGHS only checks it."""
    lb, ub = np.array(m["lb"], dtype=float), np.array(m["ub"], dtype=float)
    given = np.flatnonzero(~np.isnan(start))
    lb[given] = ub[given] = start[given]
    integer = np.asarray(m["integer"]).astype(bool)
    h = quiet_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_max_nodes", START_NODES)
    h.setOptionValue("mip_feasibility_tolerance", 1e-7)
    h.setOptionValue("primal_feasibility_tolerance", 1e-8)
    if not presolve:
        h.setOptionValue("presolve", "off")
    if m["seconds_left"] is not None:
        h.setOptionValue("time_limit", solver_share(m["seconds_left"]))
    free = integer.copy()
    free[given] = False
    _pass_model(h, m, lb, ub, free.astype(np.int32))
    if m["threads"] is not None:
        h.setOptionValue("threads", int(m["threads"]))
    h.run()
    # as highspy does after each solve it starts: this thread's HiGHS scheduler is let go,
    # so that a later run in this thread may ask for other threads (else HiGHS refuses it)
    highspy.Highs.resetThreadScheduler(False)
    if h.getInfo().primal_solution_status != 2:
        return None
    x = np.array(h.getSolution().col_value, dtype=float)
    x[integer] = np.round(x[integer])
    return x


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
    if ms != MS.kOptimal and integrality.any():
        bound = proven_bound(bound, obj)
    if ms == MS.kOptimal:
        status = "optimal"
    elif ms in (MS.kInfeasible,):
        status = "infeasible"
    elif ms == MS.kUnboundedOrInfeasible and not has_sol:
        status = "infeasible"
    else:
        status = "feasible" if has_sol else "no_solution"
    return status, x, obj, bound


def finite(v) -> float | None:
    """``v`` as a float, or ``None`` when HiGHS reports nothing (None, ±inf, NaN)."""
    return float(v) if v is not None and np.isfinite(v) else None


def watch_mip(h: highspy.Highs, incumbent: Callable[[float | None, float | None, np.ndarray], None],
              bound: Callable[[float | None], None]) -> None:
    """Call ``incumbent(objective, bound, x)`` on each improving solution HiGHS finds and
    ``bound(dual_bound)`` on each of its MIP log lines."""
    h.cbMipImprovingSolution.subscribe(lambda e: incumbent(
        finite(e.data_out.objective_function_value), _callback_bound(e.data_out),
        np.array(e.data_out.mip_solution, dtype=float)))
    h.cbMipLogging.subscribe(lambda e: bound(_callback_bound(e.data_out)))


def proven_bound(bound: float | None, objective: float | None) -> float | None:
    """``bound`` unless it is the incumbent's own value in a run that did not end optimal.

    HiGHS reports its dual bound clipped to the incumbent (``lb = min(ub, lb)`` in
    ``HighsMipSolverData::limitsToGap``), and while it takes in a MIP start, before its
    root LP has a bound, it was seen to report the start's objective as the bound
    (season 40/150/10 × 8: bound 3,085,647 = the start; the root LP's, 3.2 M). A bound
    equal to the incumbent proves nothing until HiGHS itself stops as optimal."""
    if bound is None or objective is None:
        return bound
    return None if abs(bound - objective) <= 1e-9 * max(1.0, abs(objective)) else bound


def _callback_bound(data) -> float | None:
    bound = proven_bound(finite(data.mip_dual_bound), finite(data.mip_primal_bound))
    return proven_bound(bound, finite(data.objective_function_value))


def sparse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nz = np.flatnonzero(x)
    return nz.astype(np.int64), x[nz]


def run_child(conn, m: dict) -> None:
    """Solve ``m``, streaming incumbents and bounds to ``conn``, then the final result."""
    h = quiet_highs()
    log: list[str] = []
    notes, integrality = load(h, m, log)
    if m["seconds_left"] is not None:
        # start-up and loading came out of the limit (``began`` is the parent's clock)
        h.setOptionValue("time_limit", max(0.01, solver_share(m["seconds_left"])
                                           - (time.time() - m["began"])))
    conn.send(("loaded",))
    t0 = time.perf_counter()
    last = [0.0]

    def improving(obj, bound, x):
        conn.send(("incumbent", time.perf_counter() - t0, obj, bound, sparse(x), len(x)))

    def mip_log(bound):
        now = time.perf_counter()
        if now - last[0] >= BOUND_EVERY:
            last[0] = now
            conn.send(("bound", now - t0, bound))

    watch_mip(h, improving, mip_log)
    h.run()
    status, x, obj, bound = final_result(h, integrality)
    conn.send(("done", status, None if x is None else (sparse(x), len(x)), obj, bound,
               "".join(log), notes))
    conn.close()


def _watch_parent() -> None:
    """Exit as soon as the parent is gone: nobody will read the result."""
    parent = os.getppid()
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(1)


if __name__ == "__main__":
    from multiprocessing.connection import Connection

    threading.Thread(target=_watch_parent, daemon=True).start()
    inbox = Connection(int(sys.argv[1]), writable=False)
    model = inbox.recv()
    inbox.close()
    run_child(Connection(int(sys.argv[2]), readable=False), model)
