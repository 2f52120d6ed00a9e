"""The Python API: one call solves a scenario; the CLI and the service are shells over it.

>>> from formulations import load_scenario
>>> from solver import solve
>>> sc = load_scenario("examples/grocery_week")
>>> res = solve(sc.with_constraints(max_offers=10), time_limit=30)
>>> res.status, res.objective, res.plan.head()
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from formulations.build import build_model
from formulations.errors import ParameterError
from formulations.evaluate import evaluate_plan
from formulations.scenario import Scenario

from .backends import SolveOptions, check_capabilities, get_backend
from .conflicts import minimal_conflict
from .first_plan import (first_plan, first_plan_summary, keep_first_plan, same_plan,
                         solver_seconds)

STATUSES = ("optimal", "feasible", "infeasible", "no_solution")
DEFAULT_MIP_GAP = 1e-6      # "optimal" means within one part in a million of the bound
CONFLICT_SEARCH_SECONDS = 60.0


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running solve, passed to ``progress`` callbacks."""

    elapsed: float
    objective: float | None   # best plan found so far (incumbent)
    bound: float | None       # best proven bound


@dataclass
class SolveResult:
    status: str                       # one of STATUSES
    objective: float | None
    bound: float | None
    gap: float | None
    backend: str
    build_seconds: float
    solve_seconds: float
    plan: pd.DataFrame                # plan.csv rows (empty unless optimal/feasible)
    summary: dict                     # summary.json content
    log: str = ""                     # the backend's log text
    cancelled: bool = False
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    products: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def has_plan(self) -> bool:
        return self.status in ("optimal", "feasible")

    def write(self, out_dir: str | Path) -> None:
        """Write summary.json and, if there is a plan, plan.csv — each atomically.

        A stale plan.csv from an earlier run in the same folder is removed when this
        solve has no plan, so the folder never shows a plan the scenario does not have.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if self.has_plan:
            _atomic_write(out / "plan.csv", self.plan.to_csv(index=False, float_format="%.6f"))
        elif (out / "plan.csv").exists():
            (out / "plan.csv").unlink()
        _atomic_write(out / "summary.json", json.dumps(self.summary, indent=2, default=_json_default) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def _clean(v):
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _check_options(time_limit, mip_gap, threads) -> None:
    if time_limit is not None and (not isinstance(time_limit, (int, float)) or not time_limit > 0):
        raise ParameterError(f"The 'time_limit' option must be a number of seconds > 0. Got {time_limit!r} instead.")
    if mip_gap is not None and (not isinstance(mip_gap, (int, float)) or not 0 <= mip_gap < 1):
        raise ParameterError(f"The 'mip_gap' option must be a number in [0, 1). Got {mip_gap!r} instead.")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ParameterError(f"The 'threads' option must be an int ≥ 1. Got {threads!r} instead.")


def _gap(objective, bound) -> float | None:
    """|bound − objective| / max(|objective|, |bound|): 0 when proven optimal, at most 1."""
    if objective is None or bound is None:
        return None
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), abs(bound))


def solve(scenario: Scenario, *, backend: str | None = None, time_limit: float | None = None,
          mip_gap: float | None = None, threads: int | None = None,
          progress: Callable[[Progress], None] | None = None,
          cancel: threading.Event | None = None, explain: bool = True) -> SolveResult:
    """Solve a scenario exactly; options default to ``scenario.solver``.

    ``time_limit`` bounds the whole call (build included): a solve stopped by it returns
    its best plan with status ``feasible`` and the proven bound. ``progress`` is called
    with :class:`Progress` snapshots; setting ``cancel`` stops the solve early (the
    result has ``cancelled=True``). With ``explain``, an infeasible scenario's summary
    names a minimal set of conflicting rules.
    """
    opts = scenario.solver
    backend = backend or opts.backend
    time_limit = time_limit if time_limit is not None else opts.time_limit
    mip_gap = mip_gap if mip_gap is not None else opts.mip_gap
    threads = threads if threads is not None else opts.threads
    _check_options(time_limit, mip_gap, threads)
    backend_cls = get_backend(backend)
    check_capabilities(backend_cls, scenario)

    t0 = time.perf_counter()
    built = build_model(scenario)
    form = built.model.to_arrays()
    build_seconds = time.perf_counter() - t0

    before_solver = [build_seconds]       # build, then the first plan, precede the solver

    def report(elapsed, obj, bound):
        if progress is not None:
            progress(Progress(before_solver[0] + elapsed, obj, bound))

    notes: list[str] = list(built.model.notes)
    first = None
    if built.space.no_price:
        raw = None
        status, x, solver_obj, bound, solve_seconds, log, cancelled = "infeasible", None, None, None, 0.0, "", False
        notes += [f"must_offer {b} has no price left after {', '.join(r)}" for b, r in built.space.no_price.items()]
    elif form.A.shape[1] == 0:
        # nothing can be offered to anyone (no prices left, nobody buys): the empty
        # plan is the only plan, and it is optimal
        status, x, solver_obj, bound, solve_seconds, log, cancelled = "optimal", np.zeros(0), 0.0, 0.0, 0.0, "", False
        notes.append("no offer can be put on sale: every price was pruned")
    else:
        remaining = None if time_limit is None else max(0.05, time_limit - build_seconds)
        first, start = first_plan(built, remaining, cancel)
        before_solver[0] = time.perf_counter() - t0
        if first is not None:
            report(0.0, first.objective, None)
        remaining = solver_seconds(time_limit, before_solver[0], first)
        raw = backend_cls().solve(form, SolveOptions(
            time_limit=remaining, mip_gap=DEFAULT_MIP_GAP if mip_gap is None else mip_gap,
            threads=threads, progress=report, cancel=cancel, start=start))
        status, x, solver_obj, bound = raw.status, raw.x, raw.objective, raw.bound
        solve_seconds, log, cancelled = raw.seconds, raw.log, raw.cancelled
        notes += raw.notes

    if x is not None and status in ("optimal", "feasible"):
        plan = built.plan_from_solution(x)
    else:
        plan = pd.DataFrame({"bundle_id": pd.Series(dtype=object), "segment_id": pd.Series(dtype=object),
                             "price": pd.Series(dtype=float)})
    if bound is not None and not math.isfinite(bound):
        bound = None
    if first is not None and (x is None or status not in ("optimal", "feasible") or same_plan(first, built, x)):
        ev = first.evaluation                       # nothing else to price
    else:
        ev = evaluate_plan(scenario, plan)
    if first is not None:
        keep = keep_first_plan(first, status, ev.objective if status in ("optimal", "feasible") else None)
        if keep is not None:
            notes.append("the solver reported the model infeasible, yet the heuristic's plan keeps every "
                         "rule when re-evaluated; it is reported as feasible" if status == "infeasible" else
                         "the solver found no better plan than the heuristic's first plan in time; "
                         "the bound is the solver's")
            status, plan, solver_obj, ev = keep, first.plan, None, first.evaluation
    objective = ev.objective if status in ("optimal", "feasible") else None
    if status == "optimal" and bound is not None and objective is not None:
        # the proven bound can never be below what the plan really earns
        bound = max(bound, objective) if form.sense == "max" else min(bound, objective)
    gap = _gap(objective, bound)

    conflict: list[str] = []
    if status == "infeasible" and explain:
        conflict = _explain(scenario, backend, built, threads)

    summary = _clean({
        "status": status,
        "objective": objective,
        "bound": bound,
        "gap": gap,
        "backend": backend,
        "build_seconds": round(build_seconds, 4),
        "solve_seconds": round(solve_seconds, 4),
        "objective_sense": scenario.objective,
        "pricing": scenario.pricing,
        "choice_model": scenario.choice_model,
        "scenario": scenario.name,
        "cancelled": cancelled,
        "solver_objective": solver_obj,
        "kpis": {
            "revenue": ev.revenue if objective is not None else None,
            "profit": ev.profit if objective is not None else None,
            "margin": ev.margin if objective is not None else None,
            "units": ev.units if objective is not None else None,
            "offers_on_sale": int(plan["bundle_id"].nunique()),
        },
        "segments": ev.segments.to_dict(orient="records") if objective is not None else [],
        "products": ev.products.to_dict(orient="records") if objective is not None else [],
        "binding_constraints": sorted(set(ev.binding)) if objective is not None else [],
        "conflicting_constraints": conflict,
        "violations": ev.violations if objective is not None else [],
        "model": {
            "variables": int(form.A.shape[1]),
            "constraints": int(form.A.shape[0]),
            "nonzeros": int(form.A.nnz),
            "integer_variables": int(form.integer.sum()),
            "price_points": int(len(built.space.points)),
            "choice_arcs": int(len(built.space.arcs)),
            "pruned": built.space.pruned,
            "formulation": built.model.name,
        },
        "first_plan": first_plan_summary(first),
        "notes": notes,
        "versions": _versions(),
    })
    return SolveResult(status, objective, bound, gap, backend, build_seconds, solve_seconds,
                       ev.plan if objective is not None else plan.assign(
                           expected_units=pd.Series(dtype=float), expected_revenue=pd.Series(dtype=float),
                           expected_profit=pd.Series(dtype=float)),
                       summary, log, cancelled, ev.segments, ev.products)


def _explain(scenario: Scenario, backend: str, built, threads) -> list[str]:
    if built.space.no_price:
        rules = {r for rs in built.space.no_price.values() for r in rs} - {"price ladder"}
        return ["must_offer"] + sorted(r if r != "min_price/max_price" else "min_price/max_price (bundles.csv)"
                                       for r in rules)
    deadline = time.perf_counter() + CONFLICT_SEARCH_SECONDS

    def infeasible(sc: Scenario) -> bool:
        left = deadline - time.perf_counter()
        if left <= 0.5:
            return False
        r = solve(sc, backend=backend, time_limit=min(left, 20.0), threads=threads, explain=False)
        return r.status == "infeasible"

    return minimal_conflict(scenario, infeasible)


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for pkg in ("bundleopt", "highspy", "ortools", "pyomo", "numpy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
