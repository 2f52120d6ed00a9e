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
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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


def build_offer_space(scenario: Scenario) -> OfferSpace:
    given = scenario
    if scenario.objective == "expected_profit":
        from .robust import saa_scenario

        scenario = saa_scenario(scenario)      # the same model on a segment per draw
    rules = active_rules(scenario)
    excluded = excluded_offers(scenario)
    pinned_ids = set().union(*(r.pinned_offers(scenario) for r in rules))
    bundle_ids = np.array([b for b in scenario.bundles.index if b not in excluded], dtype=object)
    bcode = pd.Series(np.arange(len(bundle_ids)), index=bundle_ids)
    segment_ids = scenario.segments.index.to_numpy(dtype=object)
    scode = pd.Series(np.arange(len(segment_ids)), index=segment_ids)
    ref = scenario.reference_prices().reindex(bundle_ids).to_numpy(float)
    cost = scenario.offer_costs().reindex(bundle_ids).to_numpy(float)
    pinned = np.isin(bundle_ids, list(pinned_ids))
    pruned: dict[str, int] = {}
    removed_by: dict[str, list[str]] = {}

    lad = ladder(scenario)
    lad = lad[lad["bundle_id"].isin(bcode.index)]
    pts = pd.DataFrame({"b": bcode.reindex(lad["bundle_id"]).to_numpy(),
                        "price": lad["price"].to_numpy(float)})

    def apply(rule: str, keep: np.ndarray | None) -> None:
        nonlocal pts
        if keep is None:
            return
        keep = np.asarray(keep, bool)
        gone = pts.loc[~keep, "b"].unique()
        left = set(pts.loc[keep, "b"].unique())
        for b in gone:
            if b not in left and pinned[b]:
                removed_by.setdefault(bundle_ids[b], []).append(rule)
        pruned[rule] = pruned.get(rule, 0) + int((~keep).sum())
        pts = pts[keep].reset_index(drop=True)

    def priced(frame: pd.DataFrame) -> pd.DataFrame:
        """Points as the rules see prices: ids, audience (``*`` = everyone), cost."""
        seg = frame["seg"].to_numpy() if "seg" in frame else np.full(len(frame), -1)
        return pd.DataFrame({
            "bundle_id": bundle_ids[frame["b"].to_numpy()],
            "segment_id": audience_labels(segment_ids, seg),
            "price": frame["price"].to_numpy(float), "cost": cost[frame["b"].to_numpy()]})

    def prune(stage: str, rules: list[Rule]) -> None:
        for rule in rules:
            if rule.prune_stage == stage:
                apply(rule.key, rule.allows(scenario, priced(pts)))

    apply("min_price/max_price", within_bounds(scenario, priced(pts)))
    prune("offer", rules)
    # Audiences: everyone, or one point per segment in personalized mode.
    if scenario.pricing == "personalized":
        pts = pts.merge(pd.DataFrame({"seg": np.arange(len(segment_ids))}), how="cross")
    else:
        pts["seg"] = -1
    prune("audience", rules)

    # Arcs: which segments could buy which point.
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
    if scenario.choice_model == "first_choice":
        arcs = arcs[arcs["surplus"].to_numpy() >= 0]

    # Drop points nobody could buy, unless the offer is pinned on sale.
    has_arc = np.zeros(len(pts), bool)
    has_arc[arcs["j"].to_numpy()] = True
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
    pts = pts.drop(columns="j")

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

    comp = scenario.components
    comp = comp[comp["bundle_id"].isin(bcode.index)]
    components = pd.DataFrame({"b": bcode.reindex(comp["bundle_id"]).to_numpy(),
                               "product_id": comp["product_id"].to_numpy(),
                               "quantity": comp["quantity"].to_numpy(int)})

    no_price = {b: ["exclude"] for b in scenario.bundles.index if b in pinned_ids & excluded}
    for b in np.flatnonzero(pinned):
        if not (pts["b"].to_numpy() == b).any():
            no_price[bundle_ids[b]] = removed_by.get(bundle_ids[b], ["price ladder"])
    return OfferSpace(scenario, bundle_ids, segment_ids,
                      scenario.segments["size"].to_numpy(float), ref, cost, components,
                      pts, arcs, pruned, no_price, given)
