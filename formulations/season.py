r"""The season model: one MIP over every period of the horizon (docs/scenario.md, "Seasons").

Each period ``t`` is the one-period model of its choice model (:mod:`formulations.first_choice`,
:mod:`formulations.mnl`) on the period's slice of the scenario
(:meth:`Scenario.period_slice <formulations.scenario.Scenario.period_slice>`: ``N_st``
shoppers, the competitor prices of ``t``), built with every period-wise rule of the
catalogue — ``max_offers`` per period, ``must_offer`` in every period, … — and stacked
side by side (:func:`formulations.linear.stack_periods`). The rules that link periods then
add their rows (:meth:`Rule.add_season_rows <formulations.rules.Rule.add_season_rows>`):
the stock carried over (``inventory``: one cumulative row per product and period), the
markdown rules and ``price_change`` (on the last price on sale,
:mod:`formulations.rules.last_price`). The objective is

.. math::

    \max \; \textstyle\sum_t \text{(period } t\text{'s profit or revenue)}
      + σ \sum_i c_i \bigl(Q_i + \sum_t R_{it} - \sum_t \sum_{a ∈ A_t} D_a q_{i b(a)} d_a\bigr)

over the products with a finite inventory (σ: ``horizon.salvage``); the constant
``σ Σ_i c_i (Q_i + Σ_t R_it)`` is the objective coefficient of one variable fixed at 1,
so every backend reports the season's value and bound as they are.

Every period has the same price points (the slices are built with ``keep_points``), so
the rows linking periods pair ``x_{tj}`` by number; the arcs differ by period.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .linear import LinearModel, stack_periods
from .offers import OfferSpace, build_offer_space
from .rules import SeasonContext, add_season_rows
from .rules.inventory import units_per_sale
from .scenario import Scenario

DEMAND_FAMILY = {"first_choice": "buy", "mnl": "share"}


def build_season(scenario: Scenario, one_period: Callable[[OfferSpace], LinearModel],
                 spaces: list[OfferSpace] | None = None) -> tuple[list[OfferSpace], LinearModel]:
    """The offer space of each period (``spaces`` if given: built before for the same
    scenario) and the season model (module docstring); ``one_period`` builds the model
    of one period's offer space."""
    labels = scenario.horizon.labels
    if spaces is None:
        spaces = [build_offer_space(scenario.period_slice(t), keep_points=True) for t in labels]
    models = [one_period(space) for space in spaces]
    model = stack_periods(models, labels, f"season_{models[0].name}")
    demand = model.vars[DEMAND_FAMILY[scenario.choice_model]]
    per_arc = np.concatenate([space.size[space.arcs["s"].to_numpy()] for space in spaces])
    arc_start = np.concatenate([[0], np.cumsum([len(space.arcs) for space in spaces])])[:-1]
    ctx = SeasonContext(model, scenario, spaces, tuple(labels), model.vars["on_sale"], demand,
                        per_arc, arc_start)
    add_season_rows(ctx)
    _salvage(ctx)
    return spaces, model


def salvage_per_unit(scenario: Scenario) -> np.ndarray:
    """What a unit left at the season's end earns, per product (products order): ``σ c_i``
    for a limited stock, 0 for the others (and without salvage)."""
    sigma = scenario.horizon.salvage if scenario.horizon else 0.0
    limited = np.isfinite(scenario.products["inventory"].to_numpy(float))
    return np.where(limited, sigma * scenario.products["unit_cost"].to_numpy(float), 0.0)


def salvage_terms(scenario: Scenario, space: OfferSpace) -> tuple[float, np.ndarray | None]:
    """The salvage part of the objective: the constant ``σ Σ_i c_i (Q_i + Σ_t R_it)`` and
    ``σ Σ_i q_ib c_i`` per sale of each offer (``None`` when no offer takes a limited
    product); ``(0, None)`` without salvage."""
    if not (scenario.horizon and scenario.horizon.salvage):
        return 0.0, None
    inv = scenario.products["inventory"]
    limited = np.isfinite(inv.to_numpy(float))
    ids = inv.index[limited]
    per_unit = salvage_per_unit(scenario)[limited]
    have = inv.reindex(ids).to_numpy(float) + scenario.period_receipts()[ids].to_numpy(float).sum(axis=0)
    constant = float(per_unit @ have)
    taken = units_per_sale(space)            # products some offer takes
    if taken is None:
        return constant, None
    # units_per_sale's columns are the finite inventories in products order, as ``ids``
    return constant, taken[0] @ per_unit


def _salvage(ctx: SeasonContext) -> None:
    """``σ c_i`` per unit of stock left: a constant, less ``σ c_i`` per unit sold."""
    if not ctx.scenario.horizon.salvage:
        return
    constant, cost_per_sale = salvage_terms(ctx.scenario, ctx.space)
    base = ctx.model.add_vars("salvage_base", pd.DataFrame({"all": ["*"]}), lb=1.0, ub=1.0)
    ctx.model.add_objective(base, np.zeros(1, np.int64), np.array([constant]))
    if cost_per_sale is None:
        return
    for t, space in enumerate(ctx.spaces):
        idx = ctx.arc_start[t] + np.arange(len(space.arcs))
        ctx.model.add_objective(ctx.demand, idx,
                                -ctx.per_arc[idx] * cost_per_sale[space.arcs["b"].to_numpy()])
