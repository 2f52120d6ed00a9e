"""OR-Tools CP-SAT: first-choice scenarios, solved in integers.

CP-SAT only knows integers, so the model is scaled exactly where it can be: every
variable is an integer count of its family's *unit* (1 for choices, 0.01 for prices held
in variables), and every row and the objective are multiplied by the smallest power of
ten (up to 10⁹) that makes all their coefficients whole. Inputs written with at most
nine decimals (prices in cents, costs, sizes, inventories as typed in the files) are
therefore represented exactly; anything finer (e.g. a WTP computed as 1/3) is rounded at
the 9th decimal of the scaled row, which is what "rounded" means for this backend. The
plan is then re-evaluated from the scenario in floating point like every other plan.
MNL shares are not integral, so MNL scenarios are refused (use HiGHS).
"""
from __future__ import annotations

import threading
import time

import numpy as np
from ortools.sat.python import cp_model

from formulations.linear import MatrixForm
from formulations.options import SolverOptions

from ..deadline import Deadline
from .base import (FEASIBLE, INFEASIBLE, NO_SOLUTION, OPTIMAL, POLL_SECONDS, TIME_LIMIT,
                   Capabilities, RawSolution, SolveControl)

MAX_DECIMALS = 9
INF_INT = float(2 ** 62)       # "no bound" for a row, exactly representable as a float
# CP-SAT stops a tenth of its seconds before the deadline (its workers wind down and the
# solution is read back), but never more than this many seconds early
CPSAT_MARGIN_CAP = 2.0


def decimals_needed(values: np.ndarray) -> np.ndarray:
    """Per value, the fewest decimals that write it exactly (MAX_DECIMALS + 1 if none)."""
    v = np.abs(np.asarray(values, dtype=float))
    out = np.full(v.shape, MAX_DECIMALS + 1, dtype=np.int64)
    for d in range(MAX_DECIMALS, -1, -1):
        s = v * 10.0 ** d
        ok = np.abs(s - np.round(s)) <= 1e-7 * np.maximum(1.0, s) + 1e-9
        out[ok] = d
    return out


def decimal_scale(values: np.ndarray) -> tuple[int, bool]:
    """Smallest power of ten making ``values`` whole (and whether it is exact)."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    for d in range(MAX_DECIMALS + 1):
        s = v * 10.0 ** d
        if np.all(np.abs(s - np.round(s)) <= 1e-7 * np.maximum(1.0, s) + 1e-9):
            return d, True
    return MAX_DECIMALS, False


class CpSatBackend:
    name = "cpsat"
    capabilities = Capabilities(
        choice_models=frozenset({"first_choice"}),
        why_not="MNL purchase shares are fractions, which CP-SAT's integer arithmetic "
                "cannot represent exactly.")
    default_threads = 8                  # CP-SAT's workers when none are asked for

    def solve(self, form: MatrixForm, options: SolverOptions,
              control: SolveControl | None = None) -> RawSolution:
        if np.isnan(form.unit).any():
            raise ValueError("model has variables without an integer unit")
        control = control or SolveControl()
        built_at = time.perf_counter()
        seconds_left = control.deadline.remaining(floor=0.05)
        model = cp_model.CpModel()
        xs = _variables(model, form, control.start)
        notes: list[str] = []
        refused = _add_rows(model, form, control.deadline, notes)
        if refused is not None:
            refused.seconds = time.perf_counter() - built_at
            return refused
        scale = _add_objective(model, xs, form, notes)
        solver, log = _solver(options, control.deadline, seconds_left)
        st, cancelled = _search(solver, model, control, scale, built_at)
        seconds = time.perf_counter() - built_at

        has = st in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        x = np.array([solver.value(v) for v in xs], dtype=float) * form.unit if has else None
        status = {cp_model.OPTIMAL: OPTIMAL, cp_model.FEASIBLE: FEASIBLE,
                  cp_model.INFEASIBLE: INFEASIBLE}.get(st, NO_SOLUTION)
        objective = solver.objective_value / scale if has else None
        bound = solver.best_objective_bound / scale if has else None
        if status == OPTIMAL:
            bound = objective
        stopped = (TIME_LIMIT if status in (FEASIBLE, NO_SOLUTION) and seconds_left is not None
                   and not cancelled else None)
        return RawSolution(status, x, objective, bound, seconds, "".join(log), cancelled, notes,
                           stopped)


def _variables(model: cp_model.CpModel, form: MatrixForm, start: np.ndarray | None) -> list:
    """One integer variable per column, counting its unit, each with a hint.

    Offering nothing is feasible unless a rule forces offers; hinting it gives CP-SAT a
    first plan at once instead of none at all on a short time limit. With a MIP start
    (the heuristic's plan), its values are hinted instead.
    """
    unit = form.unit
    lo_int = np.ceil(form.lb / unit - 1e-9).astype(np.int64)
    hi_int = np.floor(form.ub / unit + 1e-9).astype(np.int64)
    xs = [model.new_int_var(int(a), int(b), f"x{i}") for i, (a, b) in enumerate(zip(lo_int, hi_int))]
    if start is not None:
        given = ~np.isnan(start)
        hint = np.where(given, np.round(np.nan_to_num(start) / unit), lo_int).astype(np.int64)
        hint = np.clip(hint, lo_int, hi_int)
        hints = [(v, int(h)) for v, h, g in zip(xs, hint, given) if g]
    else:
        hints = list(zip(xs, lo_int.tolist()))
    for v, a in hints:
        model.add_hint(v, int(a))
    return xs


def _add_rows(model: cp_model.CpModel, form: MatrixForm, deadline: Deadline,
              notes: list[str]) -> RawSolution | None:
    """Every row, scaled to integers (see the module docstring), into ``model``; a
    RawSolution (its seconds left to the caller) if the model is refused instead."""
    A = form.A.tocsr()
    A = A.multiply(form.unit[np.newaxis, :]).tocsr()       # coefficient per integer count
    m = A.shape[0]
    row_of = np.repeat(np.arange(m), np.diff(A.indptr))
    lo_f, hi_f = np.isfinite(form.lo), np.isfinite(form.hi)
    d_row = np.zeros(m, dtype=np.int64)
    np.maximum.at(d_row, row_of, decimals_needed(A.data))
    d_row = np.maximum(d_row, np.where(lo_f, decimals_needed(np.where(lo_f, form.lo, 0.0)), 0))
    d_row = np.maximum(d_row, np.where(hi_f, decimals_needed(np.where(hi_f, form.hi, 0.0)), 0))
    inexact = int((d_row > MAX_DECIMALS).sum())
    d_row = np.minimum(d_row, MAX_DECIMALS)
    k = 10.0 ** d_row
    coef = np.round(A.data * k[row_of]).astype(np.int64)
    lo_i = np.where(lo_f, np.ceil(np.where(lo_f, form.lo, 0.0) * k - 1e-6), -INF_INT)
    hi_i = np.where(hi_f, np.floor(np.where(hi_f, form.hi, 0.0) * k + 1e-6), INF_INT)
    eq = lo_f & hi_f & (form.lo == form.hi)
    lo_i = np.clip(np.where(eq, np.round(np.where(eq, form.lo, 0.0) * k), lo_i), -INF_INT, INF_INT).astype(np.int64)
    hi_i = np.clip(np.where(eq, lo_i, hi_i), -INF_INT, INF_INT).astype(np.int64)
    empty = np.diff(A.indptr) == 0
    if (empty & ((lo_i > 0) | (hi_i < 0))).any():      # a row that can never hold
        return RawSolution(INFEASIBLE, None, None, None, 0.0, "a constraint with no terms cannot hold\n")
    proto = model.proto
    indptr, indices = A.indptr, A.indices
    for r in np.flatnonzero(~empty).tolist():
        if r % 2048 == 0 and deadline.expired():
            return RawSolution(NO_SOLUTION, None, None, None, 0.0,
                               "time limit reached while building the CP-SAT model\n",
                               stopped_by=TIME_LIMIT)
        a, b = indptr[r], indptr[r + 1]
        ct = proto.constraints.add()
        ct.linear.vars.extend(indices[a:b].tolist())
        ct.linear.coeffs.extend(coef[a:b].tolist())
        ct.linear.domain.extend([int(lo_i[r]), int(hi_i[r])])
    if inexact:
        notes.append(f"{inexact} rows rounded at 1e-{MAX_DECIMALS} for CP-SAT")
    return None


def _add_objective(model: cp_model.CpModel, xs: list, form: MatrixForm, notes: list[str]) -> float:
    """The objective, scaled to integers, into ``model``; returns the scale."""
    cost = form.cost * form.unit
    nz = np.flatnonzero(cost)
    d, exact = decimal_scale(cost[nz])
    if not exact:
        notes.append(f"objective rounded at 1e-{MAX_DECIMALS} for CP-SAT")
    scale = 10.0 ** d
    obj = cp_model.LinearExpr.weighted_sum([xs[j] for j in nz],
                                           np.round(cost[nz] * scale).astype(np.int64).tolist())
    model.maximize(obj) if form.sense == "max" else model.minimize(obj)
    return scale


def _solver(options: SolverOptions, deadline: Deadline,
            seconds_left: float | None) -> tuple[cp_model.CpSolver, list[str]]:
    """A CP-SAT solver set up for this solve, and the list its log goes to."""
    solver = cp_model.CpSolver()
    p = solver.parameters
    if seconds_left is not None:
        # the limit covers turning the matrix into CP-SAT constraints too, and a tenth
        # of what was left is kept for building and re-pricing the plan
        p.max_time_in_seconds = solver_share(deadline, seconds_left)
    if options.mip_gap is not None:
        p.relative_gap_limit = float(options.mip_gap)
    if options.threads:
        p.num_workers = int(options.threads)
    # CP-SAT's presolve spent whole time limits encoding the micro-unit surplus
    # variables (mid-size benchmark: 200 offers, no plan in 20 s with it, a plan
    # without; 50 offers: 17.8 s → 6.9 s to optimality), so it is switched off.
    p.cp_model_presolve = False
    p.log_search_progress = True
    p.log_to_stdout = False
    log: list[str] = []
    solver.log_callback = lambda line: log.append(line + "\n")
    return solver, log


def solver_share(deadline: Deadline, seconds_left: float) -> float:
    """CP-SAT's own time limit: what is left on ``deadline`` less a tenth of the
    ``seconds_left`` when the backend was called, at most :data:`CPSAT_MARGIN_CAP` s."""
    return max(0.05, deadline.remaining() - min(0.1 * seconds_left, CPSAT_MARGIN_CAP))


def _search(solver: cp_model.CpSolver, model: cp_model.CpModel, control: SolveControl,
            scale: float, start: float) -> tuple[int, bool]:
    """Run the search, reporting each plan found, stopped on cancel or at the deadline;
    CP-SAT's status and whether it was cancelled."""
    progress = control.progress

    class Incumbents(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            if progress:
                progress(time.perf_counter() - start, self.objective_value / scale,
                         self.best_objective_bound / scale)

    if progress is not None:
        # the bound between plans too, so that a race beside HiGHS (solver/race.py) sees
        # the moment CP-SAT's bound meets the other run's plan
        solver.best_bound_callback = lambda bound: progress(time.perf_counter() - start, None,
                                                            bound / scale)
    stop = threading.Event()
    cancelled = threading.Event()

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            if control.cancel is not None and control.cancel.is_set():
                cancelled.set()
                solver.stop_search()
                return
            if control.deadline.expired():
                # CP-SAT's own limit was seen overrun by 30 % with 8 workers on a
                # loaded 2-core box (benchmarks/results_scale.md); stop it here
                solver.stop_search()
                return

    threading.Thread(target=watch, daemon=True).start()
    try:
        st = solver.solve(model, Incumbents())
    finally:
        stop.set()
    return st, cancelled.is_set()
