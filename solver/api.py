"""The Python API: one call solves a scenario; the CLI and the service are shells over it.

>>> from formulations import load_scenario
>>> from solver import solve
>>> sc = load_scenario("examples/grocery_week")
>>> res = solve(sc.with_constraints(max_offers=10), time_limit=30)
>>> res.status, res.objective, res.plan.head()
"""
from __future__ import annotations

import math
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
from formulations.files import atomic_write_text, json_safe, json_text
from formulations.options import DEFAULT_MIP_GAP, SolverOptions
from formulations.scenario import Scenario

from .backends import SolveControl, check_capabilities, get_backend
from .backends.base import TIME_LIMIT
from .conflicts import minimal_conflict
from .deadline import Deadline
from .status import STATUSES, Status, relative_gap
from .machine import clamp_threads
from .relaxation import Relaxation, segment_relaxation
from .first_plan import (first_plan, first_plan_summary, keep_first_plan, same_plan,
                         solver_deadline)

__all__ = ["DEFAULT_MIP_GAP", "STATUSES", "Progress", "SolveResult", "Status", "check_options",
           "solve"]
CONFLICT_SEARCH_SECONDS = 60.0


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running solve, passed to ``progress`` callbacks."""

    elapsed: float
    objective: float | None   # best plan found so far (incumbent)
    bound: float | None       # best proven bound


@dataclass
class SolveResult:
    status: Status                    # a str: "optimal" == Status.OPTIMAL
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
        return Status(self.status).has_plan

    def write(self, out_dir: str | Path) -> None:
        """Write summary.json and, if there is a plan, plan.csv — each atomically.

        A stale plan.csv from an earlier run in the same folder is removed when this
        solve has no plan, so the folder never shows a plan the scenario does not have.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if self.has_plan:
            atomic_write_text(out / "plan.csv", money_rounded_plan(self.plan).to_csv(index=False))
        elif (out / "plan.csv").exists():
            (out / "plan.csv").unlink()
        if (out / "report.html").exists():
            # it shows the folder's previous run; `--report` writes a new one after this
            (out / "report.html").unlink()
        atomic_write_text(out / "summary.json", json_text(money_rounded_summary(self.summary)))


def check_options(options: SolverOptions) -> None:
    """Raise a scikit-learn style ParameterError for the first out-of-range option."""
    problem = options.first_problem()
    if problem is not None:
        name, expected = problem
        raise ParameterError(f"The '{name}' option must be {expected}. "
                             f"Got {getattr(options, name)!r} instead.")


def solve(scenario: Scenario, *, backend: str | None = None, time_limit: float | None = None,
          mip_gap: float | None = None, threads: int | None = None,
          progress: Callable[[Progress], None] | None = None,
          cancel: threading.Event | None = None, explain: bool = True,
          started: float | None = None, warm_start: pd.DataFrame | None = None) -> SolveResult:
    """Solve a scenario exactly; options default to ``scenario.solver``.

    ``time_limit`` bounds the whole call (build included): a solve stopped by it returns
    its best plan with status ``feasible`` and the proven bound, and its summary says
    ``"stopped_by": "time_limit"``. ``started`` (a ``time.monotonic()`` value, default
    now) is when the time limit starts counting: the CLI passes its own start, so that
    loading the scenario counts too. ``progress`` is called
    with :class:`Progress` snapshots; setting ``cancel`` stops the solve early (the
    result has ``cancelled=True``). With ``explain``, an infeasible scenario's summary
    names a minimal set of conflicting rules. ``warm_start`` (plan rows ``bundle_id,
    segment_id, price``, e.g. a neighbouring what-if variant's plan) is where the first
    plan's search may start; it changes how fast a plan is found, never what is optimal.
    """
    options = scenario.solver.overridden(backend=backend, time_limit=time_limit,
                                         mip_gap=mip_gap, threads=threads)
    check_options(options)
    deadline = Deadline(options.time_limit, start=started)
    clamped, threads_note = clamp_threads(options.threads)   # more threads than cores only hurt
    options = options.overridden(threads=clamped)
    backend = options.backend
    backend_cls = get_backend(backend)
    check_capabilities(backend_cls, scenario)

    t0 = time.perf_counter()
    built = build_model(scenario, backend)
    form = built.model.to_arrays()
    build_seconds = time.perf_counter() - t0

    before_solver = [build_seconds]       # build, then the first plan, precede the solver

    notes: list[str] = list(built.model.notes) + ([threads_note] if threads_note else [])
    stopped_by: str | None = None
    handoff_seconds: float | None = None      # the solver's: its model loaded
    first, relax, proven = None, None, False

    def report(elapsed, obj, bound):
        if progress is not None:
            if relax is not None:           # the tighter of the proven bounds
                bound = relax if bound is None else min(bound, relax)
            progress(Progress(before_solver[0] + elapsed, obj, bound))

    if built.space.no_price:
        raw = None
        status, x, solver_obj, bound, solve_seconds, log, cancelled = Status.INFEASIBLE, None, None, None, 0.0, "", False
        notes += [f"must_offer {b} has no price left after {', '.join(r)}" for b, r in built.space.no_price.items()]
    elif form.A.shape[1] == 0:
        # nothing can be offered to anyone (no prices left, nobody buys): the empty
        # plan is the only plan, and it is optimal
        status, x, solver_obj, bound, solve_seconds, log, cancelled = Status.OPTIMAL, np.zeros(0), 0.0, 0.0, 0.0, "", False
        notes.append("no offer can be put on sale: every price was pruned")
    else:
        relaxation = segment_relaxation(built.space) if form.sense == "max" else Relaxation(None)
        relax = relaxation.bound
        asked_gap = options.gap_or_default

        def within_gap(objective: float) -> bool:
            return relax is not None and relative_gap(objective, relax) <= asked_gap

        def searching(objective: float) -> None:
            # the first plan's search can take seconds: show each better plan as found
            report(time.perf_counter() - t0 - before_solver[0], objective, relax)

        first, start = first_plan(built, deadline.remaining(floor=0.05), cancel, warm_start,
                                  proven=within_gap, start_points=relaxation.points,
                                  improved=searching if progress is not None else None)
        before_solver[0] = time.perf_counter() - t0
        if first is not None:
            report(0.0, first.objective, relax)
        proven = first is not None and within_gap(first.objective)
        if proven:
            # the first plan is already within the gap asked for of a proven bound
            status, x, solver_obj, bound, solve_seconds, log, cancelled = (
                Status.OPTIMAL, None, None, None, 0.0, "", False)    # bound: relax, below
            notes.append("the first plan is proven within the gap asked for by the segment "
                         "relaxation bound; no MIP solve was needed")
        else:
            raw = backend_cls().solve(form, options.overridden(mip_gap=asked_gap),
                                      SolveControl(solver_deadline(deadline, first), report, cancel, start))
            status, x, solver_obj, bound = Status(raw.status), raw.x, raw.objective, raw.bound
            solve_seconds, log, cancelled = raw.seconds, raw.log, raw.cancelled
            handoff_seconds = raw.handoff_seconds
            notes += raw.notes
            stopped_by = raw.stopped_by
            if stopped_by == TIME_LIMIT:
                notes.append(f"stopped by the time limit ({options.time_limit:g} s) before "
                             + ("proving the plan optimal" if status.has_plan else "finding a plan"))

    if x is not None and status.has_plan:
        plan = built.plan_from_solution(x)
    else:
        plan = pd.DataFrame({"bundle_id": pd.Series(dtype=object), "segment_id": pd.Series(dtype=object),
                             "price": pd.Series(dtype=float)})
    if bound is not None and not math.isfinite(bound):
        bound = None
    bound_source = "solver" if bound is not None else None
    if relax is not None and status != Status.INFEASIBLE and (bound is None or relax < bound):
        bound, bound_source = relax, "segment relaxation"
    if first is not None and (x is None or not status.has_plan or same_plan(first, built, x)):
        ev = first.evaluation                       # nothing else to price
    else:
        ev = evaluate_plan(scenario, plan)
    if first is not None:
        keep = keep_first_plan(first, status, ev.objective if status.has_plan else None)
        if keep is not None:
            notes.append("the solver reported the model infeasible, yet the heuristic's plan keeps every "
                         "rule when re-evaluated; it is reported as feasible" if status == Status.INFEASIBLE else
                         "the solver found no better plan than the heuristic's first plan in time; "
                         "the bound is the best proven one")
            status, plan, solver_obj, ev = Status(keep), first.plan, None, first.evaluation
    if proven:
        plan, ev = first.plan, first.evaluation
    objective = ev.objective if status.has_plan else None
    if status == Status.OPTIMAL and bound is not None and objective is not None:
        # the proven bound can never be below what the plan really earns
        bound = max(bound, objective) if form.sense == "max" else min(bound, objective)
    gap = relative_gap(objective, bound)

    conflict: list[str] = []
    if status == Status.INFEASIBLE and explain:
        conflict = _explain(scenario, backend, built, threads)

    summary = json_safe({
        "status": status.value,
        "objective": objective,
        "bound": bound,
        "gap": gap,
        "bound_source": bound_source,
        "backend": backend,
        "build_seconds": round(build_seconds, 4),
        "solve_seconds": round(solve_seconds, 4),
        "handoff_seconds": None if handoff_seconds is None else round(handoff_seconds, 4),
        "objective_sense": scenario.objective,
        "pricing": scenario.pricing,
        "choice_model": scenario.choice_model,
        "scenario": scenario.name,
        "cancelled": cancelled,
        "stopped_by": stopped_by,
        "solver_objective": solver_obj,
        "kpis": {
            "revenue": ev.revenue if objective is not None else None,
            "profit": ev.profit if objective is not None else None,
            "margin": ev.margin if objective is not None else None,
            "units": ev.units if objective is not None else None,
            "offers_on_sale": int(plan["bundle_id"].nunique()),
        },
        "segments": ev.segments.to_dict(orient="records") if objective is not None else [],
        "products": _named(scenario, ev.products).to_dict(orient="records") if objective is not None else [],
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
        **_report_facts(scenario, options.time_limit, options.mip_gap,
                        plan if objective is not None else None),
    })
    return SolveResult(status, objective, bound, gap, backend, build_seconds, solve_seconds,
                       readable_plan(scenario, ev.plan) if objective is not None else plan.assign(
                           expected_units=pd.Series(dtype=float), expected_revenue=pd.Series(dtype=float),
                           expected_profit=pd.Series(dtype=float)),
                       summary, log, cancelled, ev.segments, _named(scenario, ev.products))


def _explain(scenario: Scenario, backend: str, built, threads) -> list[str]:
    if built.space.no_price:
        rules = {r for rs in built.space.no_price.values() for r in rs} - {"price ladder"}
        return ["must_offer"] + sorted(r if r != "min_price/max_price" else "min_price/max_price (bundles.csv)"
                                       for r in rules)
    budget = Deadline(CONFLICT_SEARCH_SECONDS)

    def infeasible(sc: Scenario) -> bool:
        left = budget.remaining()
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


# ------------------------------------------------- files a merchandiser reads on their own
MONEY_PLAN_COLUMNS = ("price", "expected_revenue", "expected_profit", "list_price", "previous_price")
MONEY_SUMMARY_KEYS = ("objective", "bound", "solver_objective")
SHARE_DECIMALS = 4          # discount and margin: a fraction, 0.1235 = 12.35 %


def offer_labels(scenario: Scenario) -> pd.Series:
    """Each offer's components in words, e.g. ``Coffee 500g + 2 × Milk 1l``.

    Product names where products.csv has a ``name`` column, ids otherwise; indexed by
    ``bundle_id`` in bundles order.
    """
    comp = scenario.components
    names = scenario.products["name"] if "name" in scenario.products else pd.Series(dtype=str)
    label = names.reindex(comp["product_id"]).fillna("").astype(str).to_numpy()
    label = np.where(label == "", comp["product_id"].astype(str).to_numpy(), label)
    q = comp["quantity"].to_numpy()
    part = np.where(q > 1, pd.Series(q).astype(str).to_numpy() + " × " + label, label)
    return pd.Series(part).groupby(comp["bundle_id"].to_numpy(), sort=False).agg(" + ".join).reindex(
        scenario.bundles.index)


def previous_prices(scenario: Scenario, plan: pd.DataFrame) -> pd.Series:
    """The price each plan row had in ``previous_plan.csv`` (same shoppers, or ``*``); NaN if none."""
    prev = scenario.previous_plan
    rows = plan[["bundle_id", "segment_id"]].reset_index()
    exact = rows.merge(prev, on=["bundle_id", "segment_id"], how="inner")
    # as price_change.max_relative matches them: same segment, or either side is `*`
    loose = rows.merge(prev, on="bundle_id", how="inner", suffixes=("", "_old"))
    loose = loose[(loose["segment_id"] == "*") | (loose["segment_id_old"] == "*")]
    both = pd.concat([exact, loose[["index", "price"]]]).drop_duplicates("index")
    return both.set_index("index")["price"].reindex(rows["index"]).set_axis(plan.index)


def readable_plan(scenario: Scenario, plan: pd.DataFrame) -> pd.DataFrame:
    """plan.csv rows plus what a merchandiser reads them with (SCENARIO.md §7 columns first).

    Adds ``list_price`` (R_b), ``discount`` (1 − price / list price), ``margin``
    ((price − cost) / price), ``components`` (the offer in words) and, when the scenario
    has a previous plan, ``previous_price`` (None where the row is new).
    """
    out = plan.copy()
    ref = scenario.reference_prices()
    cost = scenario.offer_costs()
    price = out["price"].to_numpy(float)
    out["list_price"] = ref.reindex(out["bundle_id"]).to_numpy(float).round(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["discount"] = np.where(out["list_price"] > 0, 1.0 - price / out["list_price"], np.nan)
        out["margin"] = np.where(price > 0, (price - cost.reindex(out["bundle_id"]).to_numpy(float)) / price, np.nan)
    out["components"] = offer_labels(scenario).reindex(out["bundle_id"]).to_numpy()
    if len(scenario.previous_plan):
        prev = previous_prices(scenario, out)
        # None, not NaN, where a row is new: plan rows also go to JSON (the service)
        out["previous_price"] = pd.Series([None if pd.isna(v) else round(float(v), 2) for v in prev],
                                          index=out.index, dtype=object)
    return out


def money_rounded_plan(plan: pd.DataFrame) -> pd.DataFrame:
    """plan.csv as written: money in cents, shares to 4 decimals, units to hundredths."""
    out = plan.copy()
    for col in MONEY_PLAN_COLUMNS + ("expected_units",):
        if col in out and out[col].dtype != object:
            out[col] = out[col].astype(float).round(2)
    for col in ("discount", "margin"):
        if col in out:
            out[col] = out[col].astype(float).round(SHARE_DECIMALS)
    return out


def money_rounded_summary(summary: dict) -> dict:
    """summary.json as written: money in cents (objective, bound, revenue, profit, surplus),
    units to hundredths, shares (margin, utilisation) to 4 decimals; the gap as computed."""
    def r(v, d):
        return v if not isinstance(v, (int, float)) or isinstance(v, bool) else round(float(v), d)

    def rows(records, digits):
        return [{k: r(v, digits[k]) if k in digits else v for k, v in rec.items()} for rec in records]

    out = dict(summary)
    for k in MONEY_SUMMARY_KEYS:
        if k in out:
            out[k] = r(out[k], 2)
    if isinstance(out.get("kpis"), dict):
        out["kpis"] = rows([out["kpis"]], {"revenue": 2, "profit": 2, "units": 2, "margin": SHARE_DECIMALS})[0]
    if isinstance(out.get("segments"), list):
        out["segments"] = rows(out["segments"], {"surplus": 2, "expected_purchases": 2})
    if isinstance(out.get("products"), list):
        out["products"] = rows(out["products"], {"units": 2, "utilisation": SHARE_DECIMALS})
    return out


def _named(scenario: Scenario, products: pd.DataFrame) -> pd.DataFrame:
    """Per-product figures with the product's name ("" when products.csv has none)."""
    names = scenario.products["name"] if "name" in scenario.products else pd.Series(dtype=str)
    return products.assign(name=names.reindex(products["product_id"]).fillna("").astype(str).to_numpy())


def _report_facts(scenario: Scenario, time_limit, mip_gap, plan: pd.DataFrame | None) -> dict:
    """What a report needs beyond the KPIs: the limits asked for, the rules imposed, the old plan."""
    facts = {
        "time_limit": time_limit,
        "mip_gap_target": DEFAULT_MIP_GAP if mip_gap is None else mip_gap,
        "constraints_imposed": scenario.constraints.active(),
        "previous_plan_rows": int(len(scenario.previous_plan)),
    }
    if plan is not None and len(scenario.previous_plan):
        prev = scenario.previous_plan
        gone = prev[~prev["bundle_id"].isin(set(plan["bundle_id"]))]
        labels = offer_labels(scenario)
        facts["previous_plan_dropped"] = [
            {"bundle_id": r.bundle_id, "segment_id": r.segment_id, "price": round(float(r.price), 2),
             "components": labels.get(r.bundle_id, r.bundle_id)} for r in gone.itertuples()]
    return facts
