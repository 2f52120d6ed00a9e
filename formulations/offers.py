"""From a scenario to the sparse set of decisions a model needs: price points and arcs.

A **price point** ``j`` is "offer ``b`` at price ``p`` to audience ``g``" — the audience
is everyone (``segment = -1``) in ``uniform`` mode and one segment in ``personalized``
mode. An **arc** ``a = (s, j)`` says segment ``s`` could buy point ``j``.

Pruning happens here, before any model sees it (docs/scenario.md §3, docs/semantics.md):

* ladder points outside ``min_price``/``max_price`` are removed, and so is every price a
  rule forbids (:meth:`formulations.rules.Rule.allows`: the margin floor, moving more than
  ``price_change.max_relative`` from the previous plan), and every offer it excludes;
* ``first_choice``: an arc exists only where ``p ≤ w_sb`` (a shopper never buys above its
  WTP), and a point without arcs is dropped — offering it changes nobody's choice and
  only tightens other constraints. ``mnl``: an arc exists wherever the segment has a WTP
  for the offer; points without arcs are dropped likewise.
* points of ``must_offer`` offers are all kept (they must be on sale even if nobody buys).

Competitors (docs/scenario.md, "Competitors"): under ``first_choice`` a segment's
surpluses are shifted by its outside surplus ``o_s`` (:mod:`formulations.competitors`)
— an arc exists only where ``w_sb − p ≥ o_s`` and its ``surplus`` is ``w_sb − p − o_s``,
which leaves the segment's preference order as it was and makes "buys ours only if
at least as good as the competitor's" the model's "surplus ≥ 0". ``affordable`` keeps
the pairs with ``p ≤ w_sb`` whatever the competitors (``fairness.coverage``).

A season's period slices are built with ``keep_points``: no point is dropped for
being idle, so every period has the same points (the rules linking periods pair them
by number) — dropping is a one-period dominance argument that a markdown path may not
keep (a price nobody buys this week can still be a step towards next week's).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .competitors import outside_surplus
from .money import MONEY_DECIMALS, to_cents
from .rules import Rule, active_rules, excluded_offers
from .rules.base import PRICE_TOL
from .scenario import Scenario

__all__ = ["MONEY_DECIMALS", "OfferSpace", "build_offer_space", "ladder", "to_cents",
           "within_bounds"]


@dataclass
class OfferSpace:
    scenario: Scenario
    bundle_ids: np.ndarray            # offers still candidates (bundles order)
    segment_ids: np.ndarray
    size: np.ndarray                  # N_s per segment code
    ref_price: np.ndarray             # R_b per bundle code
    cost: np.ndarray                  # C_b per bundle code
    components: pd.DataFrame          # b (code), product_id, quantity
    points: pd.DataFrame              # b, seg (-1 = everyone), price, value
    arcs: pd.DataFrame                # s, j, wtp, beta, surplus, value, rank (first_choice)
    affordable: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"s": [], "j": []}, dtype=np.int64))  # s, j: p ≤ w_sb
    pruned: dict = field(default_factory=dict)       # counts removed by each rule
    no_price: dict = field(default_factory=dict)     # must_offer id -> rules that emptied it
    given: Scenario | None = None     # the scenario as given (``scenario`` may be its SAA expansion)

    @property
    def personalized(self) -> bool:
        return self.scenario.pricing == "personalized"


def audience_labels(segment_ids: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Segment id of each audience code, ``*`` for everyone (code -1)."""
    return np.where(seg < 0, "*", segment_ids[np.maximum(seg, 0)])


def ladder(scenario: Scenario) -> pd.DataFrame:
    """Every offer's price ladder before any filter: columns ``bundle_id, price``."""
    ref = scenario.reference_prices()
    d = np.asarray(scenario.discounts, dtype=float)
    lad = pd.DataFrame({
        "bundle_id": np.repeat(ref.index.to_numpy(), len(d)),
        "price": to_cents(np.repeat(ref.to_numpy(), len(d)) * np.tile(1.0 - d, len(ref))),
    })
    given = scenario.prices
    if len(given):
        lad = lad[~lad["bundle_id"].isin(set(given["bundle_id"]))]
        lad = pd.concat([lad, pd.DataFrame({"bundle_id": given["bundle_id"].to_numpy(),
                                            "price": to_cents(given["price"].to_numpy(float))})])
    return lad.drop_duplicates().reset_index(drop=True)


def within_bounds(scenario: Scenario, prices: pd.DataFrame) -> np.ndarray:
    """Which of ``prices`` (``bundle_id, price``) lie within the offer's ``min_price`` /
    ``max_price`` (bundles.csv; scenario data, not a rule)."""
    b = scenario.bundles
    lo = b["min_price"].reindex(prices["bundle_id"]).to_numpy(float)
    hi = b["max_price"].reindex(prices["bundle_id"]).to_numpy(float)
    p = prices["price"].to_numpy(float)
    return ~(p < lo - PRICE_TOL) & ~(p > hi + PRICE_TOL)


def build_offer_space(scenario: Scenario, keep_points: bool = False) -> OfferSpace:
    """The price points and arcs left after the pruning of the module docstring, in its
    order (``keep_points``: no point dropped for being idle — a season's periods)."""
    given = scenario
    if scenario.objective == "expected_profit":
        from .robust import saa_scenario

        scenario = saa_scenario(scenario)      # the same model on a segment per draw
    rules = active_rules(scenario)
    excluded = excluded_offers(scenario)
    pinned_ids = set().union(*(r.pinned_offers(scenario) for r in rules))
    bundle_ids = np.array([b for b in scenario.bundles.index if b not in excluded], dtype=object)
    segment_ids = scenario.segments.index.to_numpy(dtype=object)
    ref = scenario.reference_prices().reindex(bundle_ids).to_numpy(float)
    cost = scenario.offer_costs().reindex(bundle_ids).to_numpy(float)
    pinned = np.isin(bundle_ids, list(pinned_ids))

    pruner = _Pruner(scenario, bundle_ids, segment_ids, cost, pinned)
    pts = pruner.run(rules)
    pts, arcs, affordable = _arcs(scenario, pts, bundle_ids, segment_ids)
    if keep_points:
        pts = pts.drop(columns="j")
    else:
        pts, arcs, affordable = _drop_idle_points(scenario, rules, pts, arcs, affordable, cost,
                                                  pinned, pruner.pruned)
    pts, arcs = _valued(scenario, pts, arcs, cost)

    no_price = {b: ["exclude"] for b in scenario.bundles.index if b in pinned_ids & excluded}
    for b in np.flatnonzero(pinned):
        if not (pts["b"].to_numpy() == b).any():
            no_price[bundle_ids[b]] = pruner.removed_by.get(bundle_ids[b], ["price ladder"])
    return OfferSpace(scenario, bundle_ids, segment_ids,
                      scenario.segments["size"].to_numpy(float), ref, cost, _components(scenario, bundle_ids),
                      pts, arcs, affordable, pruner.pruned, no_price, given)


class _Pruner:
    """The price points while the rules remove some (columns ``b, price``, then ``seg``).

    Keeps the count each rule removed and, for a pinned offer a rule emptied, which rules.
    """

    def __init__(self, scenario: Scenario, bundle_ids: np.ndarray, segment_ids: np.ndarray,
                 cost: np.ndarray, pinned: np.ndarray) -> None:
        self.scenario, self.bundle_ids, self.segment_ids = scenario, bundle_ids, segment_ids
        self.cost, self.pinned = cost, pinned
        self.pruned: dict[str, int] = {}
        self.removed_by: dict[str, list[str]] = {}
        bcode = pd.Series(np.arange(len(bundle_ids)), index=bundle_ids)
        lad = ladder(scenario)
        lad = lad[lad["bundle_id"].isin(bcode.index)]
        self.pts = pd.DataFrame({"b": bcode.reindex(lad["bundle_id"]).to_numpy(),
                                 "price": lad["price"].to_numpy(float)})

    def run(self, rules: list[Rule]) -> pd.DataFrame:
        """Bounds, the offer-stage rules, audiences, the audience-stage rules: the points left."""
        scenario = self.scenario
        self.apply("min_price/max_price", within_bounds(scenario, self.priced()))
        self.prune("offer", rules)
        # Audiences: everyone, or one point per segment in personalized mode.
        if scenario.pricing == "personalized":
            self.pts = self.pts.merge(pd.DataFrame({"seg": np.arange(len(self.segment_ids))}), how="cross")
        else:
            self.pts["seg"] = -1
        self.prune("audience", rules)
        return self.pts

    def apply(self, rule: str, keep: np.ndarray | None) -> None:
        """Keep the points ``keep`` marks (``None``: the rule keeps all)."""
        if keep is None:
            return
        pts = self.pts
        keep = np.asarray(keep, bool)
        gone = pts.loc[~keep, "b"].unique()
        left = set(pts.loc[keep, "b"].unique())
        for b in gone:
            if b not in left and self.pinned[b]:
                self.removed_by.setdefault(self.bundle_ids[b], []).append(rule)
        self.pruned[rule] = self.pruned.get(rule, 0) + int((~keep).sum())
        self.pts = pts[keep].reset_index(drop=True)

    def priced(self) -> pd.DataFrame:
        """The points as the rules see prices: ids, audience (``*`` = everyone), cost."""
        frame = self.pts
        seg = frame["seg"].to_numpy() if "seg" in frame else np.full(len(frame), -1)
        return pd.DataFrame({
            "bundle_id": self.bundle_ids[frame["b"].to_numpy()],
            "segment_id": audience_labels(self.segment_ids, seg),
            "price": frame["price"].to_numpy(float), "cost": self.cost[frame["b"].to_numpy()]})

    def prune(self, stage: str, rules: list[Rule]) -> None:
        for rule in rules:
            if rule.prune_stage == stage:
                self.apply(rule.key, rule.allows(self.scenario, self.priced()))


def _arcs(scenario: Scenario, pts: pd.DataFrame, bundle_ids: np.ndarray,
          segment_ids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Which segments could buy which point: the points numbered ``j``, the arcs, and the
    pairs priced within the segment's WTP (``s, j``)."""
    bcode = pd.Series(np.arange(len(bundle_ids)), index=bundle_ids)
    scode = pd.Series(np.arange(len(segment_ids)), index=segment_ids)
    w = scenario.offer_wtp()
    w = w[w["bundle_id"].isin(bcode.index)]
    w = pd.DataFrame({"s": scode.reindex(w["segment_id"]).to_numpy(),
                      "b": bcode.reindex(w["bundle_id"]).to_numpy(),
                      "wtp": w["wtp"].to_numpy(float), "beta": w["beta"].to_numpy(float)})
    pts = pts.reset_index(drop=True)
    pts["j"] = np.arange(len(pts))
    if scenario.pricing == "personalized":
        arcs = pts.merge(w, left_on=["b", "seg"], right_on=["b", "s"])
    else:
        arcs = pts.merge(w, on="b")
    arcs["surplus"] = np.round(arcs["wtp"].to_numpy() - arcs["price"].to_numpy(), MONEY_DECIMALS)
    affordable = arcs.loc[arcs["surplus"].to_numpy() >= 0, ["s", "j"]].reset_index(drop=True)
    if scenario.choice_model == "first_choice":
        if len(scenario.competitors):
            o = outside_surplus(scenario)[arcs["s"].to_numpy()]
            arcs["surplus"] = np.round(arcs["surplus"].to_numpy() - o, MONEY_DECIMALS)
        arcs = arcs[arcs["surplus"].to_numpy() >= 0]
    return pts, arcs, affordable


def _drop_idle_points(scenario: Scenario, rules: list[Rule], pts: pd.DataFrame, arcs: pd.DataFrame,
                      affordable: pd.DataFrame, cost: np.ndarray, pinned: np.ndarray,
                      pruned: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Drop points nobody could buy or that earn nothing, unless pinned; renumber ``j``.
    (A point priced within some WTP is kept while coverage may need it, whatever the
    competitors.)"""
    has_arc = np.zeros(len(pts), bool)
    has_arc[arcs["j"].to_numpy()] = True
    if any(r.keeps_unprofitable_points for r in rules):
        has_arc[affordable["j"].to_numpy()] = True
    is_pinned = pinned[pts["b"].to_numpy()]
    keep = has_arc | is_pinned
    pruned["nobody buys"] = int((~keep).sum())
    # A point earning nothing per sale (price ≤ cost under `profit`) is dominated by not
    # offering it: taking all of them off sale moves their buyers to offers that earn
    # more or to no purchase, and no rule needs an offer on sale — except `inventory`
    # (a loss leader can divert shoppers from a scarce product) and `coverage`.
    if not any(r.keeps_unprofitable_points for r in rules):
        value = pts["price"].to_numpy() - (cost[pts["b"].to_numpy()] if scenario.objective == "profit" else 0.0)
        earns = (value > 1e-12) | is_pinned
        pruned["earns nothing"] = int((keep & ~earns).sum())
        keep &= earns
    newj = np.cumsum(keep) - 1
    pts = pts[keep].reset_index(drop=True)
    arcs = arcs[keep[arcs["j"].to_numpy()]].copy()
    arcs["j"] = newj[arcs["j"].to_numpy()]
    affordable = affordable[keep[affordable["j"].to_numpy()]].copy()
    affordable["j"] = newj[affordable["j"].to_numpy()]
    return pts.drop(columns="j"), arcs, affordable.reset_index(drop=True)


def _valued(scenario: Scenario, pts: pd.DataFrame, arcs: pd.DataFrame,
            cost: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each point's value per sale, on the points and the arcs; arcs in their final order."""
    unit_value = pts["price"].to_numpy() - (cost[pts["b"].to_numpy()] if scenario.objective == "profit" else 0.0)
    pts["value"] = unit_value
    arcs["value"] = unit_value[arcs["j"].to_numpy()]
    arcs = arcs[["s", "j", "b", "price", "wtp", "beta", "surplus", "value"]]
    if scenario.choice_model == "first_choice":
        # Each segment's strict preference order: surplus, then the seller's value, then
        # the offer's place in bundles.csv (docs/semantics.md).
        arcs = arcs.sort_values(["s", "surplus", "value", "b"], ascending=[True, False, False, True],
                                kind="stable").reset_index(drop=True)
        arcs["rank"] = arcs.groupby("s").cumcount()
    else:
        arcs = arcs.sort_values(["s", "j"], kind="stable").reset_index(drop=True)
    return pts, arcs


def _components(scenario: Scenario, bundle_ids: np.ndarray) -> pd.DataFrame:
    """components.csv of the candidate offers, with offer codes."""
    bcode = pd.Series(np.arange(len(bundle_ids)), index=bundle_ids)
    comp = scenario.components
    comp = comp[comp["bundle_id"].isin(bcode.index)]
    return pd.DataFrame({"b": bcode.reindex(comp["bundle_id"]).to_numpy(),
                         "product_id": comp["product_id"].to_numpy(),
                         "quantity": comp["quantity"].to_numpy(int)})
