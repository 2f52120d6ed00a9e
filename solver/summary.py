"""summary.json: what one solve found, how, and with what — built in one place."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from formulations.build import BuiltModel
from formulations.evaluate import Evaluation
from formulations.files import json_safe
from formulations.linear import MatrixForm
from formulations.options import DEFAULT_MIP_GAP, SolverOptions
from formulations.scenario import Scenario
from formulations.season import salvage_per_unit
from formulations.status_quo import evaluate_status_quo, status_quo_summary

from .backends.base import RawSolution
from .first_plan import first_plan_summary
from .machine import package_versions
from .race import twin_backend
from .run_folder import named_products, offer_labels
from .status import Status

if TYPE_CHECKING:
    from .heuristic import HeuristicResult


@dataclass
class Outcome:
    """A solve's answer once the solver's plan, the first plan and the bounds are weighed."""

    status: Status
    plan: pd.DataFrame                  # bundle_id, segment_id, price (empty without a plan)
    evaluation: Evaluation              # of ``plan``, from the scenario
    objective: float | None             # ``evaluation``'s, when there is a plan
    bound: float | None
    bound_source: str | None            # "solver", "segment relaxation" or None
    gap: float | None
    solver_objective: float | None      # the solver's own value of its plan
    notes: list[str] = field(default_factory=list)   # why the first plan was kept, if it was


def solve_summary(scenario: Scenario, options: SolverOptions, built: BuiltModel, form: MatrixForm | None,
                  build_seconds: float, raw: RawSolution, first: "HeuristicResult | None",
                  outcome: Outcome, conflict: list[str], notes: list[str]) -> dict:
    """summary.json's content (JSON-ready; money rounded only when written)."""
    ev, objective = outcome.evaluation, outcome.objective
    planned = objective is not None
    return json_safe({
        "status": outcome.status.value,
        "objective": objective,
        "bound": outcome.bound,
        "gap": outcome.gap,
        "bound_source": outcome.bound_source,
        "backend": options.backend,
        "build_seconds": round(build_seconds, 4),
        "solve_seconds": round(raw.seconds, 4),
        "handoff_seconds": None if raw.handoff_seconds is None else round(raw.handoff_seconds, 4),
        "objective_sense": scenario.objective,
        "pricing": scenario.pricing,
        "choice_model": scenario.choice_model,
        "scenario": scenario.name,
        "cancelled": raw.cancelled,
        "stopped_by": raw.stopped_by,
        "solver_objective": outcome.solver_objective,
        "kpis": {
            "revenue": ev.revenue if planned else None,
            "profit": ev.profit if planned else None,
            "margin": ev.margin if planned else None,
            "units": ev.units if planned else None,
            "offers_on_sale": int(outcome.plan["bundle_id"].nunique()),
        },
        "segments": ev.segments.to_dict(orient="records") if planned else [],
        "products": named_products(scenario, ev.products).to_dict(orient="records") if planned else [],
        "binding_constraints": sorted(set(ev.binding)) if planned else [],
        "conflicting_constraints": conflict,
        "violations": ev.violations if planned else [],
        "model": _model_size(built, form),
        "first_plan": first_plan_summary(first),
        "notes": notes,
        "versions": package_versions(),
        **_report_facts(scenario, options, outcome.plan if planned else None),
        **_season_facts(scenario, ev if planned else None, objective),
    })


def _season_facts(scenario: Scenario, ev: Evaluation | None, objective: float | None) -> dict:
    """A season's summary: the horizon, KPIs per period, the stock left and its salvage
    value (``products`` holds each product's ``left`` too), and the status quo held all
    season (:mod:`formulations.status_quo`, a model estimate). Nothing for one period."""
    if not scenario.is_season:
        return {}
    h = scenario.horizon
    facts: dict = {"horizon": {"periods": list(h.labels), "salvage": h.salvage},
                   "status_quo": status_quo_summary(evaluate_status_quo(scenario), objective)}
    if ev is None or ev.periods is None:
        return {**facts, "periods": [], "stock_left": [], "stock_by_period": [], "salvage_value": None}
    left = ev.products[np.isfinite(ev.products["inventory"].to_numpy(float))]
    per_unit = pd.Series(salvage_per_unit(scenario), scenario.products.index).reindex(left["product_id"]).to_numpy()
    return {**facts,
            "periods": ev.periods.to_dict(orient="records"),
            "stock_left": [{"product_id": p, "left": float(v), "salvage_value": float(v * u)}
                           for p, v, u in zip(left["product_id"], left["left"], per_unit)],
            "stock_by_period": [] if ev.stock is None else ev.stock.to_dict(orient="records"),
            "salvage_value": ev.salvage}


def _model_size(built: BuiltModel, form: MatrixForm | None) -> dict:
    """The model's size; without a matrix (no MIP ran), the terms added stand for its
    non-zeros (an upper bound: zeros are dropped and repeats summed in the matrix)."""
    model = built.model
    return {
        "variables": model.num_cols,
        "constraints": model.num_rows,
        "nonzeros": int(form.A.nnz) if form is not None else model.num_terms,
        "integer_variables": int(sum(f.size for f in model.vars.values() if f.integer)),
        "price_points": int(len(built.space.points)),
        "choice_arcs": int(len(built.space.arcs)),
        "pruned": built.space.pruned,
        "formulation": built.model.name,
        # raced beside the formulation (solver/race.py), or None, and on which solver
        "side_by_side": None if built.twin is None else built.twin.name,
        "side_by_side_backend": None if built.twin is None else twin_backend(built),
    }


def _report_facts(scenario: Scenario, options: SolverOptions, plan: pd.DataFrame | None) -> dict:
    """What a report needs beyond the KPIs: the limits asked for, the rules imposed, the old plan."""
    facts = {
        "time_limit": options.time_limit,
        "mip_gap_target": DEFAULT_MIP_GAP if options.mip_gap is None else options.mip_gap,
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
