"""The rule catalogue: one module per merchandiser rule (``constraints`` in
``scenario.yaml``; docs/scenario.md), each holding its key, schema, validation, pruning,
rows, plan check and binding name (:mod:`.base` says what a rule holds).

Everything else asks here: the loaders for the schema, :mod:`formulations.validate`
for the checks, :mod:`formulations.offers` for what to prune, the formulations for
their rows (:func:`add_rule_rows`), :mod:`formulations.evaluate` for plan checks, the
first plan's search for its checks of the plans it visits (:func:`search_checks`), a
study's ``--set`` for the kind of a value (:meth:`Rule.parse_set`).
Adding a rule is one module that subclasses :class:`Rule` and calls :func:`register`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .base import (FlagRule, IdListRule, PlanView, PriceRule, Rule, RowContext, SeasonContext,
                   SeasonView)
from .registry import (active_rules, all_rules, get_rule, nest_by_key, register, rule_for_field,
                       unregister)
from .search import SearchCheck, SearchLayout, SearchState

# the built-in rules, in catalogue order: rows are added, conflicts searched and
# scenario.yaml's `constraints` written in this order
from . import min_margin, max_offers, max_offers_per_segment, inventory  # noqa: E402,F401
from . import no_arbitrage, must_offer, exclude, max_price_spread  # noqa: E402,F401
from . import coverage, price_change  # noqa: E402,F401
from . import no_increase, max_changes, min_gap  # noqa: E402,F401

if TYPE_CHECKING:
    from ..linear import LinearModel, VarFamily
    from ..offers import OfferSpace
    from ..scenario import Scenario


def add_rule_rows(model: "LinearModel", space: "OfferSpace", offer: "VarFamily",
                  demand: "VarFamily", per_arc: "np.ndarray") -> None:
    """Add the rows of every rule the scenario imposes (the formulations call this)."""
    ctx = RowContext(model, space, offer, demand, per_arc)
    slice_of_season = space.scenario.period is not None
    for rule in active_rules(space.scenario):
        if rule.per_period or not slice_of_season:
            rule.add_rows(ctx)


def add_season_rows(ctx: SeasonContext) -> None:
    """Add the cross-period rows of every rule a season imposes (the season model calls this)."""
    for rule in active_rules(ctx.scenario):
        rule.add_season_rows(ctx)


def check_season_rules(scenario: "Scenario", view: SeasonView) -> None:
    """Check a season plan across periods against every rule the scenario imposes."""
    for rule in active_rules(scenario):
        rule.check_season(scenario, view)


def excluded_offers(scenario: "Scenario") -> set:
    """Ids of the offers some imposed rule takes out of the offer space."""
    return set().union(*(r.excluded_offers(scenario) for r in active_rules(scenario)))


def check_rules(scenario: "Scenario", view: PlanView) -> None:
    """Check a plan against every rule the scenario imposes (the evaluator calls this); on
    a season's period slice, only the rules whose rows are copied into each period."""
    slice_of_season = scenario.period is not None
    for rule in active_rules(scenario):
        if rule.per_period or not slice_of_season:
            rule.check(scenario, view)


def search_checks(layout: SearchLayout) -> list[SearchCheck]:
    """The checks of every rule the offer space's scenario imposes that has one, for the
    first plan's search (a plan keeps every rule when each returns true), cheapest first
    (``Rule.search_cost``; catalogue order among equals)."""
    rules = sorted(active_rules(layout.space.scenario), key=lambda r: r.search_cost)
    checks = (rule.search_check(layout) for rule in rules)
    return [c for c in checks if c is not None]



def search_start(layout: SearchLayout) -> tuple[np.ndarray, np.ndarray]:
    """What the search's first plan must put on sale: the offers (``Rule.start_offers``)
    and the segments to give something within their WTP (``Rule.start_segments``) of
    every rule imposed, in catalogue order."""
    rules = active_rules(layout.space.scenario)
    offers = [r.start_offers(layout) for r in rules]
    segments = [r.start_segments(layout) for r in rules]
    return (np.concatenate([np.zeros(0, np.int64)] + offers),
            np.concatenate([np.zeros(0, np.int64)] + segments))


__all__ = ["FlagRule", "IdListRule", "PlanView", "PriceRule", "Rule", "RowContext", "SearchCheck",
           "SearchLayout", "SearchState", "SeasonContext", "SeasonView", "active_rules",
           "add_rule_rows", "add_season_rows", "all_rules", "check_rules", "check_season_rules",
           "excluded_offers", "get_rule", "nest_by_key", "register", "rule_for_field",
           "search_checks", "search_start", "unregister"]
